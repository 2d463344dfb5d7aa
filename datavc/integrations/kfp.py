"""What the Kubeflow Pipelines components do, as plain functions (no ``kfp`` import here).

The components in :mod:`datavc.integrations.kfp_components` are thin wrappers that run
these inside a pod, so the work itself is tested in-process against a real store.
Both talk to whatever :meth:`datavc.Client.from_env` finds: in a pod that is the server
named by ``DATAVC_SERVER`` with the token in ``DATAVC_TOKEN``, both taken from a
Kubernetes secret (never from the pipeline's YAML).
"""

from __future__ import annotations

import os
from pathlib import Path

from datavc.client import Client
from datavc.errors import InvalidArgument
from datavc.info import CommitInfo

#: Commit metadata keys the write component records (``datavc log -M kfp.run_id=...`` finds them).
RUN_ID_KEY = "kfp.run_id"
PIPELINE_KEY = "kfp.pipeline"
TASK_KEY = "kfp.task"


def read_commit(client: Client, repo: str, ref: str, path: str, dest: str | os.PathLike[str]) -> CommitInfo:
    """Write ``repo@ref:path`` (a file or a directory's contents) under the directory ``dest``.

    The ref is resolved once: every file comes from the same commit, which is returned
    (a branch that moves meanwhile does not mix two commits into one artifact).
    """
    commit = client.inspect_commit(repo, ref)
    out = Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    client.get_to_path(repo, commit.id, path or "/", out)
    return commit


def write_commit(
    client: Client,
    src: str | os.PathLike[str],
    repo: str,
    branch: str,
    path: str = "/",
    *,
    message: str = "",
    run_id: str = "",
    pipeline: str = "",
    task: str = "",
) -> CommitInfo:
    """Store the file or directory ``src`` at ``repo@branch:path`` as one new commit.

    A directory's files are merged into what the branch has under ``path`` (as ``datavc
    put`` does). The KFP run id, pipeline and task names go into the commit's metadata
    (keys :data:`RUN_ID_KEY`, :data:`PIPELINE_KEY`, :data:`TASK_KEY`), so the commit
    says which run produced it.

    Raises:
        InvalidArgument: ``src`` does not exist.
    """
    if not os.path.exists(src):
        raise InvalidArgument(f"nothing to write: {src} does not exist")
    metadata = {k: v for k, v in ((RUN_ID_KEY, run_id), (PIPELINE_KEY, pipeline), (TASK_KEY, task)) if v}
    msg = message or (f"from Kubeflow run {run_id}" if run_id else "from Kubeflow Pipelines")
    return client.put_file(repo, branch, path or "/", Path(src), message=msg, metadata=metadata)
