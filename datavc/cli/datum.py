"""``datavc datum next``: a batched shell transform asks for its next datum.

It joins the ``datum`` group of ``datavc.cli.jobs`` (``datavc datum list`` ...).
"""

from __future__ import annotations

import shlex

import click

from datavc.cli.jobs import datum


@datum.command(name="next")
@click.option("--fail", "fail", metavar="MESSAGE", default=None, help="Report the previous datum as failed.")
def next_(fail: str | None) -> None:
    """Finish the previous datum and print the next one's variables as shell `export` lines.

    For a pipeline with transform.datum_batching: true. The previous datum counts as a
    success unless --fail is given. Exit 3 when no datum is left. Use it as:

    \b
      while vars=$(datavc datum next); do
        eval "$vars"
        cp "$DATAVC_IN"/data/* "$DATAVC_OUT"/
      done
    """
    from datavc.batching import Channel, NotBatched
    from datavc.errors import InvalidArgument, NotFound

    try:
        chan = Channel()
    except NotBatched as err:
        raise InvalidArgument(str(err)) from None
    try:
        d = chan.next("fail" if fail is not None else "ok", fail or "")
    except (ConnectionError, OSError) as err:
        raise InvalidArgument(f"the datum channel is gone: {err}") from None
    finally:
        chan.close()
    if d is None:
        raise NotFound("no datum left")
    for key, value in sorted(d.env.items()):
        click.echo(f"export {key}={shlex.quote(value)}")


COMMANDS = (datum,)  # the jobs module's group, now with `next` registered on it
