"""The database's rows, out and in: every table of the schema, in one snapshot, as JSON values."""

from __future__ import annotations

import base64
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, DateTime, Engine, LargeBinary, Table, create_engine, func, insert, select, text
from sqlalchemy.orm import DeclarativeBase

from broker.models import Base

BATCH = 1000  # rows per INSERT on restore


def tables() -> list[Table]:
    """Every table, parents before children."""
    base: type[DeclarativeBase] = Base
    return list(base.metadata.sorted_tables)


def _out(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _in(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    values = {}
    for name, value in row.items():
        column_type = table.c[name].type
        if value is not None and isinstance(column_type, DateTime):
            value = datetime.fromisoformat(value)
        elif value is not None and isinstance(column_type, LargeBinary):
            value = base64.b64decode(value)
        values[name] = value
    return values


def export_rows(engine: Engine) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(table, rows) for every table, all as they were at one moment, whatever requests change
    meanwhile: PostgreSQL reads in one REPEATABLE READ transaction; SQLite's file is first copied
    with its online backup, which is consistent, and read from the copy."""
    if engine.dialect.name == "sqlite":
        with tempfile.TemporaryDirectory(prefix="deskbroker-backup-") as folder:
            copy = Path(folder) / "snapshot.db"
            raw = engine.raw_connection()
            try:
                with closing(sqlite3.connect(copy)) as target:
                    raw.driver_connection.backup(target)
            finally:
                raw.close()
            snapshot = create_engine(f"sqlite:///{copy}")
            try:
                yield from _read(snapshot, {})
            finally:
                snapshot.dispose()
    else:
        yield from _read(engine, {"isolation_level": "REPEATABLE READ"})


def _read(engine: Engine, options: dict[str, str]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    with engine.connect().execution_options(**options) as connection, connection.begin():
        for table in tables():
            rows = connection.execute(select(table)).mappings()
            yield table.name, [{key: _out(value) for key, value in row.items()} for row in rows]


def is_empty(engine: Engine) -> bool:
    with engine.connect() as connection:
        return all(connection.scalar(select(func.count()).select_from(table)) == 0 for table in tables())


def import_rows(engine: Engine, rows_by_table: dict[str, list[dict[str, Any]]]) -> int:
    """Insert every row into an empty database of the same schema, in one transaction; the number."""
    count = 0
    with engine.begin() as connection:
        for table in tables():
            rows = [_in(table, row) for row in rows_by_table.get(table.name, [])]
            for start in range(0, len(rows), BATCH):
                connection.execute(insert(table), rows[start : start + BATCH])
            count += len(rows)
            _continue_numbering(connection, table)
    return count


def _continue_numbering(connection: Connection, table: Table) -> None:
    """PostgreSQL's sequences know nothing of ids inserted as they were: new rows go on after them."""
    if connection.dialect.name != "postgresql":
        return
    for column in table.primary_key.columns:
        if column.autoincrement is True or (column.autoincrement == "auto" and column.type.python_type is int):
            sequence = connection.scalar(
                text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": column.name}
            )
            if sequence:
                connection.execute(
                    text(f"SELECT setval(:s, COALESCE((SELECT max({column.name}) FROM {table.name}), 0) + 1, false)"),
                    {"s": sequence},
                )
