"""The reservation clients' HTTP/1.1 (bench/wire.py) reads what a real uvicorn answers: a body
of a Content-Length, a chunked one, a reply that closes the connection (the next request opens
another), and it reports a server that is gone as a WireError."""

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from bench.wire import KeepAlive, WireError
from cli.stack import free_port


async def echo(request: Request) -> Response:
    body = await request.json()
    seen = {"body": body, "auth": request.headers.get("authorization")}
    return JSONResponse(seen, status_code=int(request.query_params.get("status", 200)))


async def chunked(request: Request) -> Response:
    async def parts() -> AsyncIterator[bytes]:
        for part in (b'{"a":', b"1}"):
            yield part

    return StreamingResponse(parts(), media_type="application/json")


async def closing(request: Request) -> Response:
    return JSONResponse({"closed": True}, headers={"Connection": "close"})


APP = Starlette(
    routes=[
        Route("/echo", echo, methods=["POST"]),
        Route("/chunked", chunked, methods=["POST"]),
        Route("/closing", closing, methods=["POST"]),
    ]
)


async def _served(port: int) -> uvicorn.Server:
    server = uvicorn.Server(uvicorn.Config(APP, host="127.0.0.1", port=port, log_level="warning"))
    asyncio.get_running_loop().create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    return server


def test_replies_of_every_framing_on_one_connection() -> None:
    async def scenario() -> None:
        port = free_port()
        server = await _served(port)
        try:
            url = f"http://127.0.0.1:{port}"
            async with KeepAlive(url, headers={"Authorization": "Bearer t"}, timeout_s=5) as wire:
                first = await wire.post("/echo", json.dumps({"n": 1}).encode())
                assert first.status == 200
                assert json.loads(first.body) == {"body": {"n": 1}, "auth": "Bearer t"}
                refused = await wire.post("/echo?status=409", b'{"n": 2}')
                assert refused.status == 409
                assert json.loads((await wire.post("/chunked", b"{}")).body) == {"a": 1}
                assert json.loads((await wire.post("/closing", b"{}")).body) == {"closed": True}
                assert (await wire.post("/echo", b'{"n": 3}')).status == 200  # reconnected
        finally:
            server.should_exit = True
            await asyncio.sleep(0.2)

    asyncio.run(scenario())


def test_a_server_that_is_gone_is_a_wire_error() -> None:
    async def scenario() -> None:
        async with KeepAlive(f"http://127.0.0.1:{free_port()}", headers={}, timeout_s=2) as wire:
            with pytest.raises(WireError):
                await wire.post("/echo", b"{}")

    asyncio.run(scenario())
