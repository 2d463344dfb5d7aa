"""Egress: copy a job's output tree to an ``s3://bucket/prefix`` URL (Pachyderm's ``egress``).

The scheduler copies the output before it commits it, so a job whose copy fails fails
as a whole and leaves the output branch unchanged (Pachyderm's ``JOB_EGRESSING`` state
ends the same way). Each file becomes the object ``<prefix><path>``, streamed from the
store; objects already under the prefix that the output does not hold are left alone
(egress copies, it does not mirror).

Credentials and the endpoint come from the scheduler's environment and AWS
configuration (``AWS_ACCESS_KEY_ID``..., ``AWS_ENDPOINT_URL`` for MinIO and other
S3-compatible services), never from the spec; error messages name the URL, not them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from datavc.errors import JobFailed

if TYPE_CHECKING:
    from datavc.context import Context
    from datavc.pipelines.spec import Egress


def egress(ctx: Context, tree: str, target: Egress) -> int:
    """Upload every file of ``tree`` under ``target``; returns how many were copied.

    Raises:
        JobFailed: the bucket cannot be reached or refuses a write (the message names the
            URL and the S3 error code, never a credential).
    """
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    store = ctx.store
    count = 0
    try:
        client = boto3.session.Session().client(
            "s3",
            config=Config(retries={"max_attempts": 5, "mode": "standard"}, s3={"addressing_style": "path"}),
        )
        for path, entry in store.trees.walk(tree):
            if entry.is_dir:
                continue
            with store.open_file(entry) as f:
                client.upload_fileobj(f, target.bucket, target.prefix + path)
            count += 1
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "error")
        raise JobFailed(f"egress to {target.url} failed after {count} file(s): S3 said {code}") from None
    except (BotoCoreError, ValueError) as err:
        raise JobFailed(
            f"egress to {target.url} failed after {count} file(s): {type(err).__name__}: {err}"
        ) from None
    return count
