"""An example Kubeflow pipeline: read a datavc commit, transform it, write the result back.

    kubectl create secret generic datavc \\
        --from-literal=server=https://datavc.example.internal:8080 \\
        --from-literal=token="$(datavc auth token create --user kfp --json | jq -r .secret)"
    python examples/kfp/pipeline.py datavc-kfp.yaml   # then upload the YAML to Kubeflow

The output commit on ``thumbnails@main`` carries ``kfp.run_id``, ``kfp.pipeline`` and
``kfp.task`` in its metadata: ``datavc log thumbnails --where kfp.run_id=<id>`` finds it.
"""

import sys

from kfp import compiler, dsl
from kfp.dsl import Dataset, Input, Output

from datavc.integrations.kfp_components import read_datavc_commit, with_datavc_secret, write_datavc_commit


@dsl.component(base_image="python:3.11-slim")
def upper_case(src: Input[Dataset], out: Output[Dataset]) -> None:
    """A stand-in for real work: every file of ``src`` upper-cased into ``out``."""
    import os

    for root, _dirs, names in os.walk(src.path):
        for name in names:
            rel = os.path.relpath(os.path.join(root, name), src.path)
            os.makedirs(os.path.dirname(os.path.join(out.path, rel)), exist_ok=True)
            with open(os.path.join(root, name), "rb") as f, open(os.path.join(out.path, rel), "wb") as g:
                g.write(f.read().upper())


@dsl.pipeline(name="datavc-upper-case", description="images@main -> upper-cased -> thumbnails@main")
def datavc_upper_case(repo: str = "images", ref: str = "main", out_repo: str = "thumbnails") -> None:
    data = read_datavc_commit(repo=repo, ref=ref, path="/")
    with_datavc_secret(data)
    work = upper_case(src=data.outputs["dataset"])
    saved = write_datavc_commit(
        data=work.outputs["out"],
        repo=out_repo,
        branch="main",
        run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        pipeline_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
        task_name=dsl.PIPELINE_TASK_NAME_PLACEHOLDER,
    )
    with_datavc_secret(saved)


if __name__ == "__main__":
    compiler.Compiler().compile(datavc_upper_case, sys.argv[1] if len(sys.argv) > 1 else "datavc-kfp.yaml")
