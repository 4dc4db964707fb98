"""Print the test PostgreSQL URL when a server answers there; print nothing otherwise.

`make test` uses it to set LIANJIE_TEST_POSTGRES_URL, so database tests also run on PostgreSQL
wherever one is reachable (CI has one)."""

import psycopg

URL = "postgresql://postgres@127.0.0.1:5432/test"

if __name__ == "__main__":
    try:
        psycopg.connect(URL, connect_timeout=2).close()
    except psycopg.Error:
        pass
    else:
        print(URL)
