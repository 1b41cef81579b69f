"""Alembic environment: the engine comes from broker.db.upgrade(); no alembic.ini."""

from alembic import context

from broker import models  # noqa: F401  (registers every table on Base.metadata)
from broker.db import Base

engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
