"""Store commands: ``init``, ``fsck``, ``gc``."""

from __future__ import annotations

import click

from datavc.cli.app import App, pass_app
from datavc.cli.args import duration, local_path_errors
from datavc.cli.render import echo_json, human_size, json_option, plural, print_fields
from datavc.errors import Integrity


def _hide_password(url: str) -> str:
    from datavc.db.session import redact_url

    return redact_url(url)


@click.command()
@click.argument("path", required=False, type=click.Path(file_okay=False))
@click.option(
    "--db", metavar="URL", help="Metadata database (postgresql+psycopg://...). Default: SQLite in .datavc."
)
@click.option(
    "--objects", metavar="URL", help="Object store (s3://bucket/prefix). Default: a directory in .datavc."
)
@click.option(
    "--executor",
    type=click.Choice(["local", "kubernetes"]),
    default="local",
    show_default=True,
    help="Where pipeline datums run (DATAVC_EXECUTOR overrides it).",
)
@click.option("--k8s-namespace", metavar="NS", help="Kubernetes namespace for Jobs (default: default).")
@click.option("--k8s-secret", metavar="NAME", help="Secret worker pods read credentials from.")
@click.option("--k8s-image", metavar="IMAGE", help="Image for pipelines whose spec names none.")
@click.option(
    "--open-commit-max-age",
    metavar="DURATION",
    help="How long a commit may stay open before it expires (default 1d); gc's grace is at least this.",
)
@click.option(
    "--hash",
    "hash_",
    type=click.Choice(["xxh3-128", "sha256"]),
    default="xxh3-128",
    show_default=True,
    help="Object ids; sha256 for writers who do not trust each other (docs/security.md).",
)
@click.option(
    "--pipelines-run",
    type=click.Choice(["inline", "daemon"]),
    help="Who runs triggered jobs: the command itself (inline; default on SQLite) or "
    "'datavc run'/'datavc daemon' (default on PostgreSQL). Change it with 'datavc config set'.",
)
@json_option
def init(
    path: str | None,
    db: str | None,
    objects: str | None,
    executor: str,
    k8s_namespace: str | None,
    k8s_secret: str | None,
    k8s_image: str | None,
    open_commit_max_age: str | None,
    hash_: str,
    pipelines_run: str | None,
    as_json: bool,
) -> None:
    """Create a store in PATH/.datavc (default: the current directory).

    Embedded by default (SQLite + local objects); --db and --objects point it at a
    shared deployment (PostgreSQL + S3/MinIO; credentials come from the environment:
    a URL with a password is refused, use PGPASSWORD, ~/.pgpass or --db env:VAR).
    An object store that is not empty is refused unless --db names that store's own
    database (joining it). A failed init leaves nothing behind.
    """
    from datavc.client import Client

    max_age = duration(open_commit_max_age, "--open-commit-max-age") if open_commit_max_age else None

    settings: dict[str, str] = {"kind": executor}
    if executor == "kubernetes":
        settings.update(namespace=k8s_namespace or "default", secret=k8s_secret or "datavc-credentials")
        if k8s_image:
            settings["image"] = k8s_image
    with Client.init(
        path or ".", db, objects, executor=settings, open_commit_max_age=max_age, hash=hash_
    ) as client:
        cfg = client.config
        if pipelines_run is not None:
            client.pipelines_run_mode(pipelines_run)
        run_mode = client.pipelines_run_mode()
    doc = {
        "home": str(cfg.home),
        "db": _hide_password(cfg.db),
        "objects": cfg.objects,
        "cache": cfg.cache,
        "executor": cfg.executor,
        "pipelines_run": run_mode,
    }
    if as_json:
        echo_json(doc)
        return
    click.echo(f"Initialized datavc store in {cfg.home}")
    print_fields(
        [("metadata", _hide_password(cfg.db)), ("objects", cfg.objects)]
        + ([("cache", cfg.cache)] if cfg.cache else [])
        + [("executor", " ".join(f"{k}={v}" for k, v in cfg.executor.items()))]
    )


@click.command()
@click.option(
    "--repair",
    "repair_from",
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="First rewrite damaged objects from the files in DIR (a directory or checkout).",
)
@json_option
@pass_app
def fsck(app: App, repair_from: str | None, as_json: bool) -> None:
    """Verify every stored object and the metadata; exit 6 (integrity) on any problem.

    With --repair DIR, damaged objects are first rebuilt from files in DIR whose content
    matches a committed file that uses them; what could not be repaired stays a problem.
    """
    repaired = None
    if repair_from is not None:
        with local_path_errors(repair_from):
            repaired = app.client.repair_objects(repair_from)
        if not as_json:
            for oid in repaired.repaired:
                click.echo(f"repaired object {oid}")
            for oid in repaired.not_repaired:
                click.echo(f"cannot repair object {oid}: no file in {repair_from} holds its bytes")
    info = app.client.fsck()
    problems = [
        *(f"corrupt object {o}" for o in info.corrupt_objects),
        *(f"missing object {o}" for o in info.missing_objects),
        *(f"metadata: {p}" for p in info.metadata_problems),
        *info.bad_trees,
    ]
    if as_json:
        extra = {"repair": repaired.to_json()} if repaired is not None else {}
        echo_json({**info.to_json(), "ok": info.ok, **extra})
    else:
        for p in problems:
            click.echo(p)
        click.echo(
            f"checked {info.commits_checked} commits, {info.objects_checked} objects "
            f"({human_size(info.bytes_checked)}): {'ok' if info.ok else f'{len(problems)} problems'}"
        )
    if not info.ok:
        raise Integrity(f"fsck found {len(problems)} problem{'s' if len(problems) != 1 else ''}")


@click.command()
@click.option("--dry-run", is_flag=True, help="Report what would be deleted; delete nothing.")
@click.option(
    "--grace",
    metavar="DURATION",
    help="Keep objects younger than this (90s, 30m, 2h, 1d). Default and minimum: the store's "
    "open-commit max age (1d unless set at init).",
)
@click.option("--force", is_flag=True, help="Allow a grace below the minimum (only when nothing writes).")
@click.option(
    "--s3-upload-max-age",
    default="24h",
    show_default=True,
    envvar="DATAVC_S3_UPLOAD_MAX_AGE",
    help="Delete S3 gateway multipart uploads untouched for this long, as serve does. "
    "[env: DATAVC_S3_UPLOAD_MAX_AGE]",
)
@json_option
@pass_app
def gc(
    app: App, dry_run: bool, grace: str | None, force: bool, s3_upload_max_age: str, as_json: bool
) -> None:
    """Delete stored objects no commit reaches (objects younger than --grace are kept).

    Open commits older than the store's open-commit max age (abandoned, e.g. by a killed
    put) are aborted first, so their objects can go. Abandoned S3 gateway multipart uploads
    (untouched for --s3-upload-max-age) are deleted too.
    """
    info = app.client.gc(
        dry_run=dry_run,
        grace=duration(grace) if grace is not None else None,
        force=force,
        upload_max_age=duration(s3_upload_max_age, "--s3-upload-max-age"),
    )
    if as_json:
        echo_json(info.to_json())
        return
    verb = "would delete" if info.dry_run else "deleted"
    click.echo(
        f"{verb} {info.objects_deleted} objects ({human_size(info.bytes_deleted)}); "
        f"{info.objects_reachable} reachable, {info.objects_kept_grace} kept by grace, "
        f"{info.objects_total} total"
        + (
            f"; {'would abort' if info.dry_run else 'aborted'} "
            f"{info.open_commits_expired} expired open commits"
            if info.open_commits_expired
            else ""
        )
        + (
            f"; {'would delete' if info.dry_run else 'deleted'} "
            f"{plural(info.uploads_swept, 'abandoned multipart upload')}"
            if info.uploads_swept
            else ""
        )
    )


COMMANDS = (init, fsck, gc)
