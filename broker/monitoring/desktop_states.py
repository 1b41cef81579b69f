"""What the database knows, read at each scrape: desktops by state and type. The figures are the
installation's, not one broker's: with several brokers, aggregate them with max(), not sum()."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from broker.desktops.states import STATES
from broker.models import Desktop, DesktopType


class DesktopStates(Collector):
    def __init__(self, sessions: sessionmaker[Session]):
        self.sessions = sessions

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "deskbroker_desktops",
            "Desktops by state and desktop type (pool: warm ones nobody has yet, of any state).",
            labels=["state", "type", "pool"],
        )
        with self.sessions() as db:
            types = db.scalars(select(DesktopType.id)).all()
            counted = {
                (state, type_id, pooled): number
                for state, type_id, pooled, number in db.execute(
                    select(Desktop.state, Desktop.desktop_type_id, Desktop.user_id.is_(None), func.count()).group_by(
                        Desktop.state, Desktop.desktop_type_id, Desktop.user_id.is_(None)
                    )
                )
            }
        # Every state of every type, zeros too: a series that vanishes reads as "no data", not 0.
        for type_id in types:
            for state in STATES:
                for pooled in (False, True):
                    number = counted.get((state, type_id, pooled), 0)
                    family.add_metric([state, type_id, str(pooled).lower()], number)
        yield family
