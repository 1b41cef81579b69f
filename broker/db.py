"""Database engine, sessions and migrations (SQLAlchemy 2 + Alembic)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")


class Base(DeclarativeBase):
    pass


def utcnow() -> datetime:
    """Naive UTC: the same on SQLite (no time zones) and PostgreSQL."""
    return datetime.now(UTC).replace(tzinfo=None)


class NulInText(ValueError):
    """Text from a request with a NUL character: PostgreSQL can neither store nor compare it."""


def _texts(parameters) -> Iterator[str]:
    """Every text among a statement's parameters, however the driver nests them (rows of a
    batch, dicts, tuples, flat lists of a multi-row insert)."""
    if isinstance(parameters, str):
        yield parameters
    elif isinstance(parameters, dict):
        for value in parameters.values():
            yield from _texts(value)
    elif isinstance(parameters, (list, tuple)):
        for value in parameters:
            yield from _texts(value)


def _refuse_nul(_conn, _cursor, _statement, parameters, _context, _executemany) -> None:
    # One place for every query, ids and search text alike; SQLite would take NUL, but the same
    # request must get the same answer on both databases.
    if any("\0" in text for text in _texts(parameters)):
        raise NulInText("text with a NUL character")


def prefetch(db: Session, name: str, keys: list, fetch_many: Callable[[Session, list], dict]) -> None:
    """Fetch `name` for many keys at once, for `prefetched` to find while this session lasts (a
    page that shows a value per row reads it with one query, not one per row)."""
    db.info.setdefault("prefetched", {})[name] = fetch_many(db, keys)


def prefetched(db: Session, name: str, key: Any, fetch_many: Callable[[Session, list], dict]) -> Any:
    """`fetch_many(db, [key])[key]`, unless `prefetch` fetched it already in this session."""
    found = db.info.get("prefetched", {}).get(name, {})
    return found[key] if key in found else fetch_many(db, [key])[key]


def make_engine(url: str) -> Engine:
    engine = _make_engine(url)
    event.listen(engine, "before_cursor_execute", _refuse_nul)
    return engine


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 15})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    # A short connect timeout makes requests fail fast (503) while PostgreSQL is down.
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, connect_args={"connect_timeout": 3})


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def _alembic_config(engine: Engine) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(_alembic_config(engine), revision)


def pending_migrations(engine: Engine) -> bool:
    """True when the database is not at the newest migration."""
    heads = set(ScriptDirectory.from_config(_alembic_config(engine)).get_heads())
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    return current != heads


def current_revision(engine: Engine) -> str:
    """The migration the database is at ("" before the first)."""
    with engine.connect() as conn:
        return ",".join(sorted(MigrationContext.configure(conn).get_current_heads()))


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
