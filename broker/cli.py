"""The `broker` command: serve, database, accounts, desktops and image maintenance."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from broker.config import ConfigError, Settings, load_settings
from broker.db import make_engine, make_sessionmaker, pending_migrations, upgrade
from broker.images.cli import images
from broker.models import ROLES, Desktop, User

if TYPE_CHECKING:
    from broker.desktops.service import Lifecycle


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@contextmanager
def _database() -> Iterator[Session]:
    engine = make_engine(_settings().core.sqlalchemy_url)
    try:
        with make_sessionmaker(engine)() as db:
            yield db
    finally:
        engine.dispose()


@click.group()
def cli():
    """deskbroker: per-user Linux desktops in the browser."""


@cli.command()
def serve():
    """Run the broker (gunicorn, gevent workers)."""
    from broker.serve import BrokerServer

    settings = _settings()
    engine = make_engine(settings.core.sqlalchemy_url)
    try:
        behind = pending_migrations(engine)
    except Exception as exc:
        raise click.ClickException(
            f"the database cannot be reached ({type(exc).__name__}); check DESKBROKER_DATABASE_URL"
        ) from None
    finally:
        engine.dispose()
    if behind:
        raise click.ClickException("the database schema is not up to date: run `broker db upgrade` first")
    click.echo(f"deskbroker listening on {settings.core.listen} (public URL {settings.core.public_url})")
    BrokerServer(settings).run()


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, writable=True, path_type=Path))
def backup(file):
    """Back up the database and every volume of the instance into FILE (a tar), while running."""
    from broker.backups import service as backups

    with _backup_parts() as (settings, engine, client):
        summary = backups.backup(settings, engine, client, file.resolve(), _progress)
    click.echo(f"backed up {summary} to {file}")


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def restore(file):
    """Restore FILE (from `broker backup`) into this installation: its database must be new."""
    from broker.backups import service as backups

    with _backup_parts() as (settings, engine, client):
        upgrade(engine)  # a new database gets its schema first
        summary = backups.restore(settings, engine, client, file, _progress)
    click.echo(f"restored {summary}; desktops start again on their owners' next start")


@contextmanager
def _backup_parts():
    from broker.engine import EngineUnavailable, docker_client
    from broker.errors import DomainError

    settings = _settings()
    engine = make_engine(settings.core.sqlalchemy_url)
    try:
        yield settings, engine, docker_client()
    except (DomainError, EngineUnavailable) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()


def _progress(line: str) -> None:
    click.echo(line, err=True)


@cli.group()
def db():
    """Database schema."""


@db.command("upgrade")
def db_upgrade():
    """Apply all migrations (safe to run again)."""
    settings = _settings()
    engine = make_engine(settings.core.sqlalchemy_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    click.echo("database is up to date")


@cli.group()
def users():
    """Local accounts (for installs without single sign-on)."""
    import broker.tunnels.service  # noqa: F401 - ends the watches a change of roles no longer allows (signals.py)


def _run(action):
    from broker.auth.users import UserError

    with _database() as session:
        try:
            result = action(session)
        except UserError as exc:
            raise click.ClickException(str(exc)) from None
        session.commit()
        return result


def _password_option(f):
    return click.option(
        "--password-stdin", is_flag=True, help="Read the password from standard input instead of generating one."
    )(f)


def _read_password(password_stdin: bool) -> str | None:
    return sys.stdin.readline().rstrip("\n") if password_stdin else None


@users.command("create")
@click.argument("username")
@click.option("--admin", is_flag=True, help="Give the admin role.")
@click.option("--teacher", is_flag=True, help="Give the teacher role.")
@click.option("--name", "display_name", default="", help="Display name.")
@_password_option
def users_create(username, admin, teacher, display_name, password_stdin):
    """Create a local account; prints the generated password."""
    from broker.auth.users import create_local_user

    roles = [role for role, wanted in (("admin", admin), ("teacher", teacher)) if wanted]
    password = _read_password(password_stdin)
    _user, generated = _run(lambda s: create_local_user(s, username, password, roles, display_name))
    click.echo(f"created {username}" + (f" with password: {generated}" if generated else ""))


@users.command("reset-password")
@click.argument("username")
@_password_option
def users_reset_password(username, password_stdin):
    """Set a new password (signs the account out everywhere)."""
    from broker.auth.users import reset_password

    password = _read_password(password_stdin)
    generated = _run(lambda s: reset_password(s, username, password))
    click.echo(f"password of {username} changed" + (f" to: {generated}" if generated else ""))


@users.command("disable")
@click.argument("username")
def users_disable(username):
    """Block an account (local or SSO) and end its sessions."""
    from broker.auth.users import set_disabled

    _run(lambda s: set_disabled(s, username, True))
    click.echo(f"{username} is disabled")


@users.command("enable")
@click.argument("username")
def users_enable(username):
    """Unblock an account."""
    from broker.auth.users import set_disabled

    _run(lambda s: set_disabled(s, username, False))
    click.echo(f"{username} is enabled")


@users.command("set-roles")
@click.argument("username")
@click.argument("roles", nargs=-1, type=click.Choice(ROLES))
def users_set_roles(username, roles):
    """Replace the roles of a local account (none = plain user)."""
    from broker.auth.users import set_roles

    _run(lambda s: set_roles(s, username, list(roles)))
    click.echo(f"{username}: {', '.join(roles) or 'no roles'}")


@users.command("list")
def users_list():
    """All accounts with source, roles and state."""
    with _database() as session:
        rows = session.scalars(select(User).order_by(User.username)).all()
        click.echo(f"{'USERNAME':24} {'SOURCE':6} {'ROLES':16} STATE")
        for user in rows:
            click.echo(
                f"{user.username:24} {user.auth_source:6} {','.join(user.role_names) or '-':16} "
                f"{'disabled' if user.disabled else 'active'}"
            )


cli.add_command(images)


@cli.group()
def tier():
    """The translation tier on this Docker engine (the quickstart's; compose runs its own)."""


@tier.command("start")
def tier_start():
    """Start a pool of guacd (one per core, at least two) on the desktop network; prints their
    host:port there, comma separated (for DESKBROKER_GUACD_HOSTS)."""
    from broker.engine import ProviderError
    from broker.tier import start_guacd_pool

    try:
        click.echo(",".join(start_guacd_pool(_settings())))
    except (ProviderError, OSError) as exc:
        raise click.ClickException(f"guacd did not start: {exc}") from None


@cli.group()
def desktops():
    """Desktops: list, reconcile with the engine, sync the catalog, delete homes."""


@contextmanager
def _lifecycle() -> Iterator[Lifecycle]:
    from broker.desktops import make_provider
    from broker.desktops.service import Lifecycle
    from broker.engine import ProviderError

    settings = _settings()
    engine = make_engine(settings.core.sqlalchemy_url)
    try:
        yield Lifecycle(settings, make_provider(settings), make_sessionmaker(engine))
    except ProviderError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()


@desktops.command("list")
def desktops_list():
    """Every desktop: owner, type, state, since when, container."""
    with _database() as session:
        rows = session.scalars(select(Desktop).order_by(Desktop.created_at)).all()
        click.echo(f"{'OWNER':20} {'TYPE':16} {'STATE':9} {'SINCE (UTC)':19} CONTAINER / REASON")
        for desktop in rows:
            owner = desktop.user.username if desktop.user else "(pool)"
            detail = (desktop.container_id or "")[:12] + (f" {desktop.state_reason}" if desktop.state_reason else "")
            click.echo(
                f"{owner:20} {desktop.desktop_type_id:16} {desktop.state:9} "
                f"{desktop.state_changed_at:%Y-%m-%d %H:%M:%S} {detail}"
            )


@desktops.command("reconcile")
def desktops_reconcile():
    """Housekeeping now: catalog, reconcile with the engine, idle stops, removals, pool."""
    from broker.housekeeping import run_once

    with _lifecycle() as lifecycle:
        click.echo(run_once(lifecycle).summary())


@desktops.command("sync-catalog")
def desktops_sync_catalog():
    """Desktop types from the local images' catalog labels (admin-made types are kept)."""
    from broker.desktops.catalog import sync_catalog

    with _lifecycle() as lifecycle, lifecycle.sessions() as session:
        report = sync_catalog(session, lifecycle.provider.catalog())
    click.echo(
        f"added: {', '.join(report.added) or '-'}; updated: {', '.join(report.updated) or '-'}; "
        f"image missing: {', '.join(report.missing) or '-'}"
    )


@desktops.command("delete-home")
@click.argument("username")
def desktops_delete_home(username):
    """Delete a person's home volume, once none of their desktops is left."""
    from broker import audit

    with _lifecycle() as lifecycle, lifecycle.sessions() as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise click.ClickException(f"no user {username}")
        if session.scalar(select(Desktop.id).where(Desktop.user_id == user.id)):
            raise click.ClickException(f"{username} still has desktops: remove them first")
        removed = lifecycle.provider.remove_home(user.subject)
        audit.record(session, "desktop_home_deleted", target=username, volumes=removed)
        session.commit()
    click.echo(f"deleted {', '.join(removed)}" if removed else f"{username} has no home volume")


def main():
    cli(prog_name="broker")
