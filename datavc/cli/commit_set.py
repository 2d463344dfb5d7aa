"""Commit-set commands: ``commit-set inspect ID``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from datavc.cli.app import App, pass_app
from datavc.cli.render import echo_json, json_option, local_time, print_fields, print_table, short

if TYPE_CHECKING:
    from datavc.info import CommitSetInfo


def render_commit_set(info: CommitSetInfo) -> None:
    """The set's fields, then its commits and its jobs as two tables."""
    pending = sum(not j.done for j in info.jobs)
    print_fields(
        [
            ("commit set", info.id),
            ("origin", info.origin or "-"),
            ("created", f"{local_time(info.created_at)} by {info.created_by}"),
            ("jobs", f"{len(info.jobs)} ({pending} pending)"),
        ]
    )
    if info.commits:
        click.echo()
        print_table(
            ("REPO", "BRANCH", "COMMIT", "ORIGIN", "JOB"),
            ((m.repo, m.branch, short(m.commit), m.origin, short(m.job)) for m in info.commits),
        )
    if info.jobs:
        click.echo()
        print_table(
            ("PIPELINE", "JOB", "STATE", "PROCESSED", "SKIPPED", "FAILED", "MESSAGE"),
            (
                (
                    j.pipeline,
                    short(j.id),
                    j.state,
                    str(j.datums_processed),
                    str(j.datums_skipped),
                    str(j.datums_failed),
                    j.message or "-",
                )
                for j in info.jobs
            ),
            justify_right=(3, 4, 5),
        )


@click.group("commit-set")
def commit_set() -> None:
    """Commit sets: a user commit and every output commit it caused downstream."""


@commit_set.command("inspect")
@click.argument("set_id", metavar="ID")
@json_option
@pass_app
def inspect(app: App, set_id: str, as_json: bool) -> None:
    """The set's commits (repo, branch, commit) and its jobs with their states.

    ID is a commit-set id or a prefix of 6+ characters; a user commit's set has the
    commit's own id.
    """
    info = app.client.inspect_commit_set(set_id)
    if as_json:
        echo_json(info.to_json())
        return
    render_commit_set(info)


COMMANDS = (commit_set,)
