"""Text with a NUL never reaches the database (PostgreSQL cannot store it), however the statement
carries its parameters, and the check stands in the way of no ordinary write: several rows
flushed at once (a multi-row insert) work on SQLite and PostgreSQL."""

import pytest
from sqlalchemy import select

from broker.db import NulInText, make_engine, make_sessionmaker
from broker.models import DesktopType


def test_several_rows_at_once_and_nul_refused(database_url):
    sessions = make_sessionmaker(make_engine(database_url))
    with sessions() as db:
        db.add_all([DesktopType(id=f"t{n}", image="x/y:1", title_en=f"T{n}", title_de=f"T{n}") for n in range(5)])
        db.commit()
        assert db.scalars(select(DesktopType.id).order_by(DesktopType.id)).all() == [f"t{n}" for n in range(5)]
        with pytest.raises(NulInText):
            db.scalar(select(DesktopType).where(DesktopType.id == "t\0"))
        db.rollback()
        db.add_all(
            [
                DesktopType(id="ok", image="x/y:1", title_en="A", title_de="A"),
                DesktopType(id="bad", image="x/y:1", title_en="B\0", title_de="B"),
            ]
        )
        with pytest.raises(Exception) as refused:
            db.commit()
        assert isinstance(refused.value, NulInText) or isinstance(getattr(refused.value, "orig", None), NulInText)
