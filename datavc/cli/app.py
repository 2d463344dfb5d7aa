"""The application object (``ctx.obj``) and the root group that turns errors into exit codes."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, NoReturn

import click

from datavc.errors import DatavcError

if TYPE_CHECKING:
    from datavc.client import Client
    from datavc.light import LightReader


class App:
    """What every command shares: where the store is, and a client opened on first use."""

    def __init__(self, home: str | None) -> None:
        self.home = home
        self._client: Client | None = None
        self._reader: LightReader | Client | None = None

    @property
    def client(self) -> Client:
        """``Client.open(home)``, opened once per invocation (imported late: ``--help`` stays fast)."""
        if self._client is None:
            from datavc.client import Client

            # No --home/DATAVC_HOME: DATAVC_DB + DATAVC_OBJECTS (a container's Secret) or .datavc upward.
            self._client = Client.open(self.home) if self.home else Client.from_env()
        return self._client

    @property
    def reader(self) -> LightReader | Client:
        """For read-only listings: a :class:`~datavc.light.LightReader` (no SQLAlchemy) when the
        store allows, else the client. It falls back to the client for anything it declines."""
        if self._reader is None:
            from datavc.light import LightReader

            self._reader = LightReader.open(self.home, lambda: self.client) or self.client
        return self._reader

    def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None and reader is not self._client:
            reader.close()
        if self._client is not None:
            client, self._client = self._client, None
            client.close()


pass_app = click.make_pass_decorator(App)


class RootGroup(click.Group):
    """The ``datavc`` group: every command runs inside :meth:`invoke`, so errors are caught here once."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        # pachctl's verb-first spelling ('create repo x') gets datavc's, never a guess.
        # 'put file ...', 'get file ...' (pachctl) would otherwise read "file" as a repo.
        pach_file = len(args) > 1 and args[0] in ("put", "get", "diff") and args[1] in ("file", "files")
        if args and (pach_file or self.get_command(ctx, args[0]) is None):
            from datavc.cli.pachctl import spelling

            hint = spelling(self, ctx, args)
            if hint is not None:
                _fail(hint, 2)
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            try:
                return super().invoke(ctx)
            finally:
                app = ctx.find_object(App)
                if app is not None:
                    app.close()
        except DatavcError as err:
            _fail(str(err) or err.category, err.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except BrokenPipeError:
            # The reader went away (``datavc ls -r ... | head -1``): stop quietly, as git does.
            _silence_stdout()
            raise click.exceptions.Exit(SIGPIPE_EXIT) from None


#: The status of a command whose stdout reader went away: 128 + SIGPIPE, what a shell reports
#: for git (killed by the signal) in ``git log | head -1``.
SIGPIPE_EXIT = 128 + 13


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush of buffered output does not
    fail again and print "Exception ignored ... BrokenPipeError" on stderr."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError, OSError):
        return  # not a real file (a test runner's buffer): nothing will be flushed to a pipe
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def _fail(message: str, exit_code: int) -> NoReturn:
    """Print ``error: <message>`` as one line on stderr and exit with ``exit_code``."""
    click.echo("error: " + " ".join(message.splitlines()), err=True)
    raise click.exceptions.Exit(exit_code)
