"""Small ASGI helpers for the middlewares that read a request before the app does."""

from starlette.types import Receive


async def read_body(receive: Receive) -> bytes:
    """The whole request body, however many messages it came in."""
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    """The first value of header `name` (lower case) among raw ASGI headers, if any."""
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None
