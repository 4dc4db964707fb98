"""A resources list asks for at most LIANJIE_RESOURCES_PAGE_SIZE_MAX rows: more is a 422 naming
`limit`, as in the needs service, never a page silently cut short."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from services.resources.app import MIGRATIONS, create_app
from services.resources.settings import ResourcesSettings
from shared.db import migrate
from tests.auth import bearer
from tests.support.factories import resource_body

CAP = 3


@pytest.fixture
def capped(engine: Engine) -> Iterator[TestClient]:
    """The resources app with pages of at most CAP rows, holding CAP + 1 resources."""
    migrate(engine, MIGRATIONS)
    url = engine.url.render_as_string(hide_password=False)
    app = create_app(ResourcesSettings(database_url=url, page_size_max=CAP))
    client = TestClient(app, raise_server_exceptions=False, headers=bearer())
    for n in range(CAP + 1):
        assert client.post("/resources", json=resource_body(name=f"助餐点{n}")).status_code == 201
    yield client
    app.state.sessions.kw["bind"].dispose()


@pytest.mark.parametrize("path", ["/resources", "/resources/duplicates"])
def test_a_limit_above_the_cap_is_422_naming_limit(capped: TestClient, path: str) -> None:
    response = capped.get(path, params={"limit": CAP + 1})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    errors = {(e["field"], e["rule"]) for e in response.json()["errors"]}
    assert errors == {("limit", "less_than_equal")}


def test_a_list_without_limit_is_one_page_of_the_cap_and_counts_every_match(
    capped: TestClient,
) -> None:
    page = capped.get("/resources").json()
    assert (len(page["items"]), page["limit"], page["total"]) == (CAP, CAP, CAP + 1)
    rest = capped.get("/resources", params={"limit": CAP, "offset": CAP}).json()
    assert len(rest["items"]) == 1
