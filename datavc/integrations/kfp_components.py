"""Kubeflow Pipelines components: a datavc commit in, an artifact back out as a commit.

``pip install 'datavc[kfp]'``. Use them in a ``@dsl.pipeline`` (see
``examples/kfp/pipeline.py``)::

    data = read_datavc_commit(repo="images", ref="main", path="/")
    with_datavc_secret(data)
    ...
    saved = write_datavc_commit(data=train.outputs["model"], repo="models", branch="main",
                                run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER, ...)
    with_datavc_secret(saved)

Each runs in the datavc image (``DATAVC_KFP_IMAGE``, read when this module is imported)
and reaches the server through ``DATAVC_SERVER`` and ``DATAVC_TOKEN``, which
:func:`with_datavc_secret` maps from a Kubernetes secret: the compiled pipeline names the
secret, never a credential. The work itself is :mod:`datavc.integrations.kfp`.
"""

import os
from typing import Any

from kfp import dsl
from kfp.dsl import Dataset, Input, Output

#: The image the components run in: datavc with its server client (``pip install 'datavc[server]'``).
IMAGE = os.environ.get("DATAVC_KFP_IMAGE", "datavc:latest")
#: The Kubernetes secret with keys ``server`` (the URL) and ``token`` (a datavc API token).
SECRET = "datavc"


@dsl.component(base_image=IMAGE)
def read_datavc_commit(repo: str, dataset: Output[Dataset], ref: str = "main", path: str = "/") -> str:
    """Copy ``repo@ref:path`` into the output Dataset artifact; returns the commit id read."""
    from datavc.client import Client
    from datavc.integrations.kfp import read_commit

    with Client.from_env() as client:
        commit = read_commit(client, repo, ref, path, dataset.path)
    dataset.metadata.update({"datavc_repo": repo, "datavc_commit": commit.id, "datavc_path": path})
    return commit.id


@dsl.component(base_image=IMAGE)
def write_datavc_commit(
    data: Input[Dataset],
    repo: str,
    branch: str = "main",
    path: str = "/",
    message: str = "",
    run_id: str = "",
    pipeline_name: str = "",
    task_name: str = "",
) -> str:
    """Store the input artifact at ``repo@branch:path`` as one commit (run id in its metadata)."""
    from datavc.client import Client
    from datavc.integrations.kfp import write_commit

    with Client.from_env() as client:
        commit = write_commit(
            client,
            data.path,
            repo,
            branch,
            path,
            message=message,
            run_id=run_id,
            pipeline=pipeline_name,
            task=task_name,
        )
    return commit.id


def with_datavc_secret(task: Any, secret: str = SECRET) -> Any:
    """Give a task ``DATAVC_SERVER`` and ``DATAVC_TOKEN`` from the Kubernetes secret ``secret``."""
    from kfp import kubernetes

    return kubernetes.use_secret_as_env(
        task, secret_name=secret, secret_key_to_env={"server": "DATAVC_SERVER", "token": "DATAVC_TOKEN"}
    )
