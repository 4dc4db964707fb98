"""Reading a service's database from outside it, as the fault tests check their counts."""

from sqlalchemy import text

from shared.db import READ_ONLY, create_db_engine


def scalar(url: str, sql: str) -> int:
    """The one integer `sql` answers on the database at `url`."""
    engine = create_db_engine(url)
    try:
        with engine.connect().execution_options(**{READ_ONLY: True}) as conn:
            return int(conn.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()
