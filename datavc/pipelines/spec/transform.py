"""What runs for each datum: the command, its environment, user and secrets.

``Transform`` goes into every datum hash (``PipelineSpec.transform_hash``), so its
serialisation drops fields added later while they are unset: existing specs keep their
hashes and their datums stay known.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    StrictBool,
    StrictInt,
    StrictStr,
    field_validator,
    model_serializer,
    model_validator,
)

from datavc.pipelines.spec.fields import ENV_NAME_RE, RESERVED_ENV_PREFIX, Frozen

__all__ = ["Secret", "Transform"]

_USER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*|\d{1,10}(:\d{1,10})?")


class Secret(Frozen):
    """A secret the transform reads (Pachyderm's ``transform.secrets`` item).

    On Kubernetes ``name`` is a Secret in the job's namespace: with ``env_var`` its ``key``
    becomes that variable, with ``mount_path`` the whole Secret is mounted there. Locally
    (``datavc.pipelines.secrets``) the value of ``env_var`` is read from the file
    ``<secrets dir>/<name>/<key>``; ``mount_path`` needs a pod and fails the datum.
    """

    name: Annotated[StrictStr, Field(min_length=1, max_length=253)]
    key: StrictStr | None = None
    env_var: StrictStr | None = None
    mount_path: StrictStr | None = None

    @model_serializer(mode="wrap")
    def _drop_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if v is not None}

    @model_validator(mode="after")
    def _one_target(self) -> Secret:
        if (self.env_var is None) == (self.mount_path is None):
            raise ValueError("give exactly one of env_var (with key) or mount_path")
        if self.env_var is not None:
            if not self.key:
                raise ValueError("key: required with env_var (the Secret's key to read)")
            if not ENV_NAME_RE.fullmatch(self.env_var):
                raise ValueError(
                    f"env_var: invalid variable name {self.env_var!r}: use letters, digits and '_'"
                )
            if self.env_var.startswith((RESERVED_ENV_PREFIX, "PACH_")):
                raise ValueError(f"env_var: {self.env_var!r} is reserved: datavc sets DATAVC_* and PACH_*")
        if self.key is not None and ("/" in self.key or self.key in ("", ".", "..")):
            raise ValueError(f"key: {self.key!r} is not a Secret key (no '/', not '.' or '..')")
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", self.name):
            raise ValueError(
                f"name: {self.name!r} is not a Kubernetes Secret name (lower case, digits, '-', '.')"
            )
        if self.mount_path is not None and not self.mount_path.startswith("/"):
            raise ValueError(f"mount_path: must be an absolute path, got {self.mount_path!r}")
        return self


class Transform(Frozen):
    """What runs for each datum.

    Attributes:
        image: the container image (used on Kubernetes; the local executor ignores it).
        cmd: the command and its arguments.
        stdin: lines fed to the command's standard input.
        env: extra environment variables (names starting with ``DATAVC_`` are reserved).
        accept_return_code: exit codes besides 0 that count as success (Pachyderm's field).
        working_dir: the directory the command runs in; it must exist where the datum
            runs (by default the datum's scratch directory).
        err_cmd: run (with ``err_stdin``) when ``cmd`` has failed a datum's last try; if it
            exits 0 the datum counts as recovered: it does not fail the job, contributes
            no output, and is not remembered (the next job runs it again).
        err_stdin: lines fed to ``err_cmd``'s standard input.
        datum_batching: start the command once per worker; it asks for datums one at a
            time (``datavc.datums()``, ``datavc datum next``), as in Pachyderm 2.x.
        user: the user the command runs as: a name, a uid or ``uid:gid``, in the sandbox
            (inside its user namespace) or the pod (``runAsUser``/``runAsGroup``; a pod
            never runs as root). Without the sandbox it runs as the scheduler's user.
        secrets: Kubernetes Secrets the command reads (see ``Secret``).
    """

    image: StrictStr | None = None
    cmd: tuple[StrictStr, ...] = Field(min_length=1)
    stdin: tuple[StrictStr, ...] = ()
    env: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    accept_return_code: tuple[StrictInt, ...] = ()
    working_dir: StrictStr | None = None
    err_cmd: tuple[StrictStr, ...] = ()
    err_stdin: tuple[StrictStr, ...] = ()
    datum_batching: StrictBool = False
    user: Annotated[StrictStr, Field(min_length=1, max_length=64)] | None = None
    secrets: tuple[Secret, ...] = ()

    @model_serializer(mode="wrap")
    def _drop_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Fields added later appear only when set: existing specs keep their hashes.
        data: dict[str, Any] = handler(self)
        for key in ("accept_return_code", "err_cmd", "err_stdin", "secrets"):
            if not data.get(key):
                data.pop(key, None)
        for key in ("working_dir", "user"):
            if data.get(key) is None:
                data.pop(key, None)
        if not data.get("datum_batching"):
            data.pop("datum_batching", None)
        return data

    @field_validator("user")
    @classmethod
    def _check_user(cls, value: str | None) -> str | None:
        if value is not None and not _USER_RE.fullmatch(value):
            raise ValueError(f"{value!r}: use a user name, a uid or 'uid:gid'")
        return value

    def uid_gid(self) -> tuple[int, int | None] | None:
        """``user`` as numbers (``root`` is 0), or None when unset or a name (which only the
        machine or image that runs the command can resolve)."""
        if self.user is None:
            return None
        if self.user == "root":
            return 0, 0
        uid, _, gid = self.user.partition(":")
        if not uid.isdigit():
            return None
        return int(uid), int(gid) if gid else None

    @field_validator("err_cmd")
    @classmethod
    def _check_err_cmd(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if value and not value[0]:
            raise ValueError("the program (first item) must not be empty")
        return value

    @field_validator("working_dir")
    @classmethod
    def _check_working_dir(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError(f"must be an absolute path, got {value!r}")
        return value

    def succeeded(self, exit_code: int | None) -> bool:
        """Whether a command that ended with ``exit_code`` succeeded: 0 or an accepted code."""
        return exit_code == 0 or (exit_code is not None and exit_code in self.accept_return_code)

    @field_validator("image")
    @classmethod
    def _check_image(cls, value: str | None) -> str | None:
        if value is not None and (not value or value != value.strip()):
            raise ValueError("must be an image reference such as 'python:3.12-slim'")
        return value

    @field_validator("cmd")
    @classmethod
    def _check_cmd(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if value and not value[0]:
            raise ValueError("the program (first item) must not be empty")
        return value

    @field_validator("env")
    @classmethod
    def _check_env(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not ENV_NAME_RE.fullmatch(key):
                raise ValueError(f"invalid variable name {key!r}: use letters, digits and '_'")
            if key.startswith(RESERVED_ENV_PREFIX):
                raise ValueError(f"{key!r} is reserved: datavc sets the {RESERVED_ENV_PREFIX}* variables")
        return value

    def __hash__(self) -> int:
        return hash(
            (
                self.image,
                self.cmd,
                self.stdin,
                tuple(sorted(self.env.items())),
                self.accept_return_code,
                self.working_dir,
                self.err_cmd,
                self.err_stdin,
                self.datum_batching,
                self.user,
                self.secrets,
            )
        )
