"""`/docs` works without the internet: the page names only this service's own URLs (no CDN),
and each of them answers."""

import re
from urllib.parse import urljoin

import httpx
import pytest

from cli.stack import SERVICES, Stack


@pytest.mark.integration
@pytest.mark.parametrize("service", SERVICES)
def test_docs_load_every_asset_from_the_service_itself(stack: Stack, service: str) -> None:
    base = stack.url(service)
    with httpx.Client(base_url=base, timeout=10) as client:
        page = client.get("/docs")
        assert page.status_code == 200, page.text
        urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
        urls += re.findall(r"""url:\s*["']([^"']+)["']""", page.text)  # the OpenAPI document
        urls += re.findall(r"""origin\s*\+\s*["']([^"']+)""", page.text)  # OAuth2 redirect
        assert any(u.endswith("swagger-ui-bundle.js") for u in urls), urls
        assert any(u.endswith("openapi.json") for u in urls), urls
        for url in urls:
            assert url.startswith("/"), f"{service} /docs loads {url} from elsewhere"
            answer = client.get(urljoin(base, url))
            assert answer.status_code == 200, (url, answer.status_code)
            assert answer.content, url
        assert client.get("/redoc").status_code == 404, "ReDoc would load from a CDN"
