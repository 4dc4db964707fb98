"""`/api/<service>/…`: the browser's one origin forwards each call to the service that owns it.

Method, query, body and the headers that carry meaning (token, content type, language,
concurrency, idempotency, request id) go through as they are, and the browser's address as
X-Forwarded-For (believed only from LIANJIE_TRUSTED_PROXIES); the services decide everything. A
service that does not answer becomes a 503 problem+json with Retry-After, never a hang.
"""

import httpx
from fastapi import APIRouter, Request, Response

from shared.errors import NotFound, ServiceUnavailable

router = APIRouter(tags=["forwarding"])

REQUEST_HEADERS = (
    "authorization",
    "content-type",
    "accept",
    "accept-language",
    "if-match",
    "if-none-match",
    "idempotency-key",
    "x-request-id",
)
RESPONSE_HEADERS = (
    "content-type",
    "content-disposition",
    "etag",
    "location",
    "retry-after",
    "www-authenticate",
)
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


@router.api_route("/api/{service}/{path:path}", methods=METHODS)
async def forward(service: str, path: str, request: Request) -> Response:
    base = request.app.state.upstreams.get(service)
    if base is None:
        raise NotFound(f"no service named {service}: use needs, resources or matcher")
    client: httpx.AsyncClient = request.app.state.http
    headers = {k: v for k, v in request.headers.items() if k.lower() in REQUEST_HEADERS}
    if request.client is not None:  # the browser, for the services' per-client sign-in limits
        headers["x-forwarded-for"] = request.client.host
    try:
        answer = await client.request(
            request.method,
            f"{base}/{path}",
            params=list(request.query_params.multi_items()),
            content=await request.body(),
            headers=headers,
        )
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(
            f"the {service} service did not answer ({type(exc).__name__}); try again shortly",
            extra={"service": service, "rule": "service_unavailable"},
        ) from exc
    kept = {k: v for k, v in answer.headers.items() if k.lower() in RESPONSE_HEADERS}
    return Response(answer.content, status_code=answer.status_code, headers=kept)
