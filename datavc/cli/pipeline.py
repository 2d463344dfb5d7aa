"""``datavc pipeline create|update|list|inspect|delete|stop|start`` and ``datavc lineage``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import click

from datavc.cli.app import App, pass_app
from datavc.cli.args import address, ref
from datavc.cli.render import echo_json, json_option, local_time, print_fields, print_table, short
from datavc.cli.triggered import settle, started
from datavc.errors import InvalidArgument

if TYPE_CHECKING:
    from datavc.info import PipelineInfo
    from datavc.pipelines.spec import PipelineSpec

F = TypeVar("F", bound=Callable[..., Any])
LineageFormat = Literal["text", "json", "dot", "mermaid"]


def _read_spec(path: str) -> PipelineSpec:
    """The spec in file ``path`` (YAML or JSON by its suffix, else detected), or on stdin for ``-``."""
    from datavc.pipelines.spec import PipelineSpec

    if path == "-":
        return PipelineSpec.parse(sys.stdin.buffer.read())
    return PipelineSpec.from_file(path)


def _spec_option(f: F) -> F:
    return click.option(
        "-f",
        "--file",
        "spec_file",
        required=True,
        metavar="SPEC",
        help="The pipeline spec: a YAML or JSON file, '-' for stdin.",
    )(f)


def _job_note(app: App, p: PipelineInfo) -> str:
    """What the command did about jobs (what runs them is said by ``settle``)."""
    if p.last_job is None:
        return "; no job yet (its inputs have no commits)" + _master_hint(app, p)
    return ""


def _master_hint(app: App, p: PipelineInfo) -> str:
    """Pachyderm's default branch is ``master``, datavc's ``main``: when an empty input branch
    has a ``master`` sibling with commits (``put images@master`` by habit), say how to join them."""
    from datavc.errors import NotFound

    for input_ref in p.inputs:
        repo, _, branch = input_ref.partition("@")
        if branch == "master":
            continue
        try:
            if (
                app.client.inspect_branch(repo, branch).head is None
                and app.client.inspect_branch(repo, "master").head
            ):
                return (
                    f"; {repo}@{branch} is empty but {repo}@master has commits: datavc's default branch is "
                    f"'main', so set the input's 'branch: master' or put to {repo}@{branch}"
                )
        except NotFound:
            continue
    return ""


@click.group()
def pipeline() -> None:
    """Create, update, list, inspect, delete, stop and start pipelines."""


@pipeline.command()
@_spec_option
@json_option
@pass_app
def create(app: App, spec_file: str, as_json: bool) -> None:
    """Create a pipeline from a spec; its output repo (named after it) is created and a job
    over its inputs' current heads runs now on an embedded store (pipelines.run: inline),
    or is queued for 'datavc run' or 'datavc daemon'."""
    since = started()
    p = app.client.create_pipeline(_read_spec(spec_file))
    if as_json:
        echo_json(p.to_json())
    else:
        click.echo(f"created pipeline {p.name} (output repo {p.output_repo}){_job_note(app, p)}")
    settle(app, since, quiet=as_json)


@pipeline.command()
@_spec_option
@click.option("--reprocess", is_flag=True, help="Run every datum again, even those processed before.")
@json_option
@pass_app
def update(app: App, spec_file: str, reprocess: bool, as_json: bool) -> None:
    """Replace a pipeline's spec (a new version when it changed) and queue a job.

    Datums already processed with the same transform are skipped unless --reprocess.
    """
    since = started()
    p = app.client.update_pipeline(_read_spec(spec_file), reprocess=reprocess)
    if as_json:
        echo_json(p.to_json())
    else:
        click.echo(f"pipeline {p.name} at version {p.version}{_job_note(app, p)}")
    settle(app, since, quiet=as_json)


@pipeline.command("list")
@json_option
@pass_app
def list_(app: App, as_json: bool) -> None:
    """List pipelines: state, version, inputs and their latest job."""
    pipelines = app.client.list_pipelines()
    if as_json:
        echo_json([p.to_json() for p in pipelines])
        return
    print_table(
        ("NAME", "STATE", "VERSION", "INPUTS", "LAST JOB", "JOB STATE", "UPDATED"),
        (
            (
                p.name,
                f"{p.state} ({p.reason})" if p.reason else p.state,
                str(p.version),
                ", ".join(p.inputs),
                short(p.last_job),
                p.last_job_state or "-",
                local_time(p.updated_at),
            )
            for p in pipelines
        ),
        justify_right=(2,),
    )


@pipeline.command()
@click.argument("name")
@json_option
@pass_app
def inspect(app: App, name: str, as_json: bool) -> None:
    """Show one pipeline: state, version, inputs, output repo, latest job and its spec."""
    p = app.client.inspect_pipeline(name)
    if as_json:
        echo_json(p.to_json())
        return
    import yaml

    print_fields(
        [
            ("name", p.name),
            ("description", p.description or "-"),
            ("state", p.state),
            *([("reason", p.reason)] if p.reason else []),
            ("version", str(p.version)),
            ("inputs", ", ".join(p.inputs)),
            ("output", p.output_repo),
            ("created", local_time(p.created_at)),
            ("updated", local_time(p.updated_at)),
            ("last job", f"{p.last_job} ({p.last_job_state})" if p.last_job else "-"),
            ("spec hash", p.spec_hash),
        ]
    )
    click.echo("spec:")
    for line in yaml.safe_dump(p.spec, sort_keys=True, default_flow_style=False).splitlines():
        click.echo("  " + line)


@pipeline.command()
@click.argument("name")
@pass_app
def delete(app: App, name: str) -> None:
    """Delete a pipeline and its job records; its output repo and commits stay."""
    app.client.delete_pipeline(name)
    click.echo(f"deleted pipeline {name} (output repo {name} kept)")


@pipeline.command()
@click.argument("name")
@json_option
@pass_app
def stop(app: App, name: str, as_json: bool) -> None:
    """Stop a pipeline: no new jobs are triggered or run until 'pipeline start'."""
    p = app.client.stop_pipeline(name)
    if as_json:
        echo_json(p.to_json())
    else:
        click.echo(f"stopped pipeline {p.name}")


@pipeline.command()
@click.argument("name")
@json_option
@pass_app
def start(app: App, name: str, as_json: bool) -> None:
    """Start a stopped pipeline again; its pending jobs run at the next 'datavc run'."""
    p = app.client.start_pipeline(name)
    if as_json:
        echo_json(p.to_json())
    else:
        click.echo(f"started pipeline {p.name}")


@click.command()
@click.argument("target", metavar="REPO@REF[:PATH]")
@click.option(
    "--upstream",
    "direction",
    flag_value="upstream",
    default=True,
    help="Where REF came from: its input commits, transitively (default).",
)
@click.option(
    "--downstream", "direction", flag_value="downstream", help="What was derived from REF, transitively."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "dot", "mermaid"]),
    default=None,
    help="Output: an indented tree (default), JSON, Graphviz DOT or Mermaid.",
)
@json_option
@pass_app
def lineage(
    app: App, target: str, direction: Literal["upstream", "downstream"], fmt: str | None, as_json: bool
) -> None:
    """Provenance (--upstream) or subvenance (--downstream) of a commit.

    With PATH, also the datum that wrote that output file and the input files it read.
    --json is the same as --format json.
    """
    if as_json and fmt not in (None, "json"):
        raise InvalidArgument(f"--json and --format {fmt} disagree: give one")
    chosen: LineageFormat = "json" if as_json else _format(fmt or "text")
    addr = address(target)
    info = app.client.lineage(addr.repo, ref(addr), addr.path, direction)
    from datavc.lineage import render

    click.echo(render(info, chosen))


def _format(fmt: str) -> LineageFormat:
    if fmt == "json":
        return "json"
    if fmt == "dot":
        return "dot"
    if fmt == "mermaid":
        return "mermaid"
    return "text"


COMMANDS = (pipeline, lineage)
