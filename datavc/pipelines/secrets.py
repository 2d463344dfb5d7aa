"""Where a transform's ``secrets`` come from when it does not run in a Kubernetes pod.

On Kubernetes a spec's ``transform.secrets`` name Secrets of the job's namespace: the pod
gets them as environment variables (``env_var`` + ``key``) or mounted files
(``mount_path``), and the worker passes those variables on to the transform.

Locally there is no Secret API, so the scheduler reads each ``env_var`` secret from a
file laid out as Kubernetes mounts a Secret (and as ``kubectl create secret generic NAME
--from-file=KEY=...`` reads one)::

    $DATAVC_SECRETS_DIR/<secret name>/<key>      (default ~/.config/datavc/secrets)

The file's content is the value (one trailing newline is dropped). Nothing else may read
these files: the directory, the secret's directory and the file must belong to the
scheduler's user and give no access to group or others (``chmod -R go= DIR``), otherwise
the datum fails saying so: a secret is never taken from a world-readable file. Values
never appear in logs, errors or the spec; only names do. ``mount_path`` secrets need a
pod: locally such a datum fails with a message naming the field.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from datavc.errors import InvalidArgument
from datavc.pipelines.spec import Secret

SECRETS_DIR_ENV = "DATAVC_SECRETS_DIR"
MAX_SECRET_BYTES = 1024 * 1024


class SecretUnavailable(InvalidArgument):
    """A secret the transform needs cannot be read safely here; the message says why (never the value)."""


def secrets_dir() -> Path:
    """``$DATAVC_SECRETS_DIR``, else ``$XDG_CONFIG_HOME/datavc/secrets`` (``~/.config/...``)."""
    explicit = os.environ.get(SECRETS_DIR_ENV)
    if explicit:
        return Path(explicit)
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "datavc" / "secrets"


def _check_private(path: Path, what: str) -> os.stat_result:
    try:
        st = path.lstat()
    except FileNotFoundError:
        raise SecretUnavailable(f"{what} {str(path)!r} does not exist") from None
    except OSError as err:
        raise SecretUnavailable(f"cannot read {what} {str(path)!r}: {err.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        raise SecretUnavailable(f"{what} {str(path)!r} is a symbolic link; use the file itself")
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise SecretUnavailable(f"{what} {str(path)!r} belongs to another user")
    if st.st_mode & 0o077:
        raise SecretUnavailable(
            f"{what} {str(path)!r} is readable by others (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"run 'chmod go= {path}'"
        )
    return st


def local_secret_env(secrets: tuple[Secret, ...]) -> dict[str, str]:
    """The ``env_var`` secrets as variables, read from the secrets directory.

    Raises:
        SecretUnavailable: a ``mount_path`` secret (needs a pod), or a secret file that is
            missing, not private, not a regular file or too large.
    """
    env: dict[str, str] = {}
    if not secrets:
        return env
    root = secrets_dir()
    for i, s in enumerate(secrets):
        if s.mount_path is not None:
            raise SecretUnavailable(
                f"transform.secrets[{i}] ({s.name}): mount_path is mounted on Kubernetes only; "
                "locally give the secret to the transform with env_var and key"
            )
        assert s.env_var is not None and s.key is not None  # Secret's validator
        _check_private(root, "the secrets directory")
        _check_private(root / s.name, f"secret {s.name!r}")
        path = root / s.name / s.key
        st = _check_private(path, f"key {s.key!r} of secret {s.name!r}")
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_SECRET_BYTES:
            raise SecretUnavailable(
                f"{str(path)!r} is not a regular file of at most {MAX_SECRET_BYTES} bytes"
            )
        try:
            value = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise SecretUnavailable(f"key {s.key!r} of secret {s.name!r} is not UTF-8 text") from None
        env[s.env_var] = value.removesuffix("\n")
    return env


def pod_secret_env(secrets: tuple[Secret, ...]) -> dict[str, str]:
    """In a worker pod: the ``env_var`` secrets Kubernetes put in the pod's environment."""
    return {s.env_var: os.environ[s.env_var] for s in secrets if s.env_var and s.env_var in os.environ}
