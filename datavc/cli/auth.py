"""``datavc auth user|token|role|whoami``: accounts of a datavc server.

With ``DATAVC_SERVER`` set these go through the server (and its permissions); on a
store opened directly they change its database (whoever holds its credentials is in
charge anyway).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import click

from datavc.cli.app import App, pass_app
from datavc.cli.render import echo_json, json_option, local_time, print_table


def accounts_of(app: App) -> Any:
    """The client when it is remote (it has the account methods), else a direct ``Accounts``."""
    from datavc.remote import RemoteClient

    client = app.client
    if isinstance(client, RemoteClient):
        return client
    from datavc.accounts import Accounts

    return Accounts(client.context)


@click.group()
def auth() -> None:
    """Users, API tokens and repo roles of a datavc server."""


@auth.command()
@json_option
@pass_app
def whoami(app: App, as_json: bool) -> None:
    """Who the current token belongs to, and their roles."""
    me = accounts_of(app).whoami()
    if as_json:
        echo_json(me)
        return
    if me.get("direct"):
        click.echo(f"{me['user']} (direct store access: no server, no roles apply)")
        return
    click.echo(f"{me['user']}{' (admin)' if me['admin'] else ''}, token {me['token']}")
    for repo, role in sorted(me["roles"].items()):
        click.echo(f"  {role:<7} {repo}")


# ----- users -------------------------------------------------------------------------


@auth.group()
def user() -> None:
    """Create, list and delete users (admin)."""


@user.command("create")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Make the user an administrator.")
@json_option
@pass_app
def user_create(app: App, name: str, admin: bool, as_json: bool) -> None:
    """Create user NAME (then give them a token with `auth token create --user NAME`)."""
    u = accounts_of(app).create_user(name, admin=admin)
    if as_json:
        echo_json(u.to_json())
    else:
        click.echo(f"created user {u.name}{' (admin)' if u.is_admin else ''}")


@user.command("list")
@json_option
@pass_app
def user_list(app: App, as_json: bool) -> None:
    """List users."""
    users = accounts_of(app).list_users()
    if as_json:
        echo_json([u.to_json() for u in users])
        return
    print_table(
        ("USER", "ADMIN", "CREATED", "BY"),
        ((u.name, "yes" if u.is_admin else "no", local_time(u.created_at), u.created_by) for u in users),
    )


@user.command("delete")
@click.argument("name")
@pass_app
def user_delete(app: App, name: str) -> None:
    """Delete user NAME with their tokens and roles."""
    accounts_of(app).delete_user(name)
    click.echo(f"deleted user {name}")


# ----- tokens ------------------------------------------------------------------------


@auth.group()
def token() -> None:
    """Create, list and revoke API tokens."""


@token.command("create")
@click.option("--user", "user_name", help="Whose token (default: yours; another user's needs admin).")
@click.option("--name", default="", help="A label for the token.")
@click.option("--expires-in", type=click.IntRange(min=1), help="Lifetime in days (default: no expiry).")
@json_option
@pass_app
def token_create(app: App, user_name: str | None, name: str, expires_in: int | None, as_json: bool) -> None:
    """Create a token and print it: this is the only time it is shown."""
    life = timedelta(days=expires_in) if expires_in is not None else None
    t = accounts_of(app).create_token(user_name, name=name, expires_in=life)
    if as_json:
        echo_json(t.to_json())
        return
    click.echo(t.secret)
    click.echo(
        f"token {t.id} for {t.user}, expires {local_time(t.expires_at) if t.expires_at else 'never'}; "
        "store it now, it is not shown again",
        err=True,
    )


@token.command("list")
@click.option("--user", "user_name", help="Whose tokens (admin; '*' for all). Default: yours.")
@json_option
@pass_app
def token_list(app: App, user_name: str | None, as_json: bool) -> None:
    """List tokens (ids and dates, never the secrets)."""
    tokens = accounts_of(app).list_tokens(user_name)
    if as_json:
        echo_json([t.to_json() for t in tokens])
        return
    print_table(
        ("ID", "USER", "NAME", "CREATED", "EXPIRES", "LAST USED", "REVOKED"),
        (
            (
                t.id,
                t.user,
                t.name or "-",
                local_time(t.created_at),
                local_time(t.expires_at),
                local_time(t.last_used_at),
                local_time(t.revoked_at),
            )
            for t in tokens
        ),
    )


@token.command("revoke")
@click.argument("token_id", metavar="ID")
@pass_app
def token_revoke(app: App, token_id: str) -> None:
    """Revoke token ID (see `auth token list`)."""
    t = accounts_of(app).revoke_token(token_id)
    click.echo(f"revoked token {t.id} of {t.user}")


# ----- roles -------------------------------------------------------------------------


@auth.group()
def role() -> None:
    """Grant, revoke and list roles on repos (reader < writer < owner)."""


@role.command("grant")
@click.argument("repo")
@click.argument("user_name", metavar="USER")
@click.argument("role_name", metavar="ROLE", type=click.Choice(["reader", "writer", "owner"]))
@json_option
@pass_app
def role_grant(app: App, repo: str, user_name: str, role_name: str, as_json: bool) -> None:
    """Give USER exactly ROLE on REPO (needs owner of REPO, or admin)."""
    r = accounts_of(app).grant_role(repo, user_name, role_name)
    if as_json:
        echo_json(r.to_json())
    else:
        click.echo(f"{r.user} is {r.role} of {r.repo}")


@role.command("revoke")
@click.argument("repo")
@click.argument("user_name", metavar="USER")
@pass_app
def role_revoke(app: App, repo: str, user_name: str) -> None:
    """Remove USER's role on REPO."""
    accounts_of(app).revoke_role(repo, user_name)
    click.echo(f"{user_name} has no role on {repo} now")


@role.command("list")
@click.argument("repo")
@json_option
@pass_app
def role_list(app: App, repo: str, as_json: bool) -> None:
    """Who has which role on REPO."""
    roles = accounts_of(app).list_roles(repo)
    if as_json:
        echo_json([r.to_json() for r in roles])
        return
    print_table(
        ("USER", "ROLE", "GRANTED", "BY"),
        ((r.user, r.role, local_time(r.granted_at), r.granted_by) for r in roles),
    )


@click.command()
@click.option("--repo", help="Only entries about this repo.")
@click.option("--user", "user_name", help="Only entries by this user.")
@click.option("--since", help="Only entries at or after this ISO 8601 time (naive = UTC).")
@json_option
@pass_app
def audit(app: App, repo: str | None, user_name: str | None, since: str | None, as_json: bool) -> None:
    """The audit log: every mutating server request and every refused one (admin)."""
    from datavc.names import parse_time

    entries = accounts_of(app).audit(repo=repo, user=user_name, since=parse_time(since) if since else None)
    if as_json:
        echo_json([e.to_json() for e in entries])
        return
    print_table(
        ("TIME", "USER", "ACTION", "REPO", "BRANCH", "COMMIT", "STATUS", "RESULT"),
        (
            (
                local_time(e.at),
                e.user or "-",
                e.action,
                e.repo or "-",
                e.branch or "-",
                (e.commit or "-")[:12],
                str(e.status),
                e.result,
            )
            for e in entries
        ),
    )


def _add_s3_key() -> None:
    from datavc.cli.auth_s3 import s3_key

    auth.add_command(s3_key)


_add_s3_key()

COMMANDS = (auth, audit)
