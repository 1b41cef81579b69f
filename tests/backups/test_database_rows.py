"""The database part of a backup: every table's rows as JSON, restored into either kind of database
(SQLite to PostgreSQL here, the way an installation grows), values and numbering intact."""

from __future__ import annotations

import pytest

from broker.auth.users import create_local_user, verify_local_password
from broker.backups import database
from broker.db import make_engine, make_sessionmaker, upgrade
from broker.models import AuditEvent, DesktopType, Group, User

PASSWORD = "correct horse battery"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_rows_move_from_sqlite_to_postgresql_and_new_rows_number_on(database_url, tmp_path):
    source = make_engine(f"sqlite:///{tmp_path / 'school.db'}")
    target = make_engine(database_url)
    try:
        upgrade(source)
        with make_sessionmaker(source)() as db:
            anna, _ = create_local_user(db, "anna.müller", PASSWORD, ["teacher"], "Anna Müller")
            anna.groups.append(Group(key="5a", name="Klasse 5a"))
            db.add(DesktopType(id="physik", image="x/physik:1", title_en="Physics", title_de="Physik", enabled=False))
            db.add(
                AuditEvent(actor="anna.müller", action="file_uploaded", target="home:/Übung.txt", details={"bytes": 7})
            )
            db.commit()
        rows = dict(database.export_rows(source))
        assert database.is_empty(target) and not database.is_empty(source)
        assert database.import_rows(target, rows) == sum(map(len, rows.values()))

        with make_sessionmaker(target)() as db:
            anna = db.query(User).filter_by(username="anna.müller").one()
            assert (anna.display_name, [g.key for g in anna.groups], anna.role_names) == (
                "Anna Müller",
                ["5a"],
                ["teacher"],
            )
            assert db.get(DesktopType, "physik").enabled is False
            event = db.query(AuditEvent).filter_by(action="file_uploaded").one()
            assert event.details == {"bytes": 7} and event.at is not None
            ben, _ = create_local_user(db, "ben", PASSWORD)  # the numbering goes on after the restored ids
            db.commit()
            assert ben.id > anna.id
        with make_sessionmaker(target)() as db:  # and the password still signs in
            assert verify_local_password(db.query(User).filter_by(username="anna.müller").one(), PASSWORD)
    finally:
        source.dispose()
        target.dispose()
