"""Egress (``datavc.pipelines.egress``): a job's output copied to ``s3://`` before it is
committed, against the moto S3 server; a failed copy fails the job and commits nothing."""

from __future__ import annotations

from pathlib import Path

import boto3

from datavc.client import Client
from tests.datavc.pipelines.helpers import last_job, sh


def spec(name: str, url: str) -> dict[str, object]:
    return {
        "pipeline": {"name": name},
        "input": {"pfs": {"repo": "data", "glob": "/*"}},
        "transform": {"cmd": sh('cp -r "$DATAVC_IN/data/." "$DATAVC_OUT/"')},
        "egress": {"URL": url},
        "datumTries": 1,
    }


def test_output_is_copied_to_the_bucket_and_a_failed_copy_commits_nothing(
    tmp_path: Path, s3_url: str
) -> None:
    bucket = s3_url.removeprefix("s3://").split("/")[0]
    with Client.init(tmp_path / "store") as c:
        c.create_repo("data")
        with c.commit("data", "main") as tx:
            tx.put_file("/a.txt", b"A")
            tx.put_file("/d/b.txt", b"B" * 100_000)
        c.create_pipeline(spec("out", f"s3://{bucket}/exports/run"))
        c.create_pipeline(spec("lost", "s3://no-such-bucket-here/x"))
        assert not c.run().ok
        s3 = boto3.client("s3")
        keys = {o["Key"]: o["Size"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="exports/")["Contents"]}
        assert keys == {"exports/run/a.txt": 1, "exports/run/d/b.txt": 100_000}
        assert s3.get_object(Bucket=bucket, Key="exports/run/a.txt")["Body"].read() == b"A"
        assert last_job(c, "out").output_commit is not None

        job = last_job(c, "lost")
        assert job.state == "failure"
        assert job.message == (
            "egress to s3://no-such-bucket-here/x failed after 0 file(s): S3 said NoSuchBucket"
        )
        assert "testing" not in job.message  # never a credential
        assert c.list_branches("lost")[0].head is None
