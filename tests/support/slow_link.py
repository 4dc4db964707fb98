"""A slow network link to a real server: a TCP relay on loopback whose answers arrive `delay_s`
late, as from a NATS cluster in another zone. Nothing of NATS is imitated: every byte goes to
the real server and back unchanged. Each request-reply (a JetStream publish and its ack) then
takes at least `delay_s`, on any machine, however loaded: a lower bound tests can count on."""

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator


class SlowLink:
    """Listens on 127.0.0.1:`port`; each connection is relayed to `target`, whose bytes reach
    the client `delay_s` after they left the server (the client's bytes go straight through).
    `delay_s` may be changed while connections are open: it applies to bytes read after."""

    def __init__(self, target_host: str, target_port: int, delay_s: float) -> None:
        self.target = (target_host, target_port)
        self.delay_s = delay_s
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="slow-link", daemon=True)

    def url(self, scheme: str = "nats") -> str:
        return f"{scheme}://127.0.0.1:{self.port}"

    @contextlib.contextmanager
    def running(self) -> Iterator["SlowLink"]:
        self._thread.start()
        assert self._ready.wait(timeout=10), "the slow link did not start"
        try:
            yield self
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._relay, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            tasks = asyncio.all_tasks(self._loop)
            for task in tasks:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self._loop.close()

    async def _relay(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        try:
            server_in, server_out = await asyncio.open_connection(*self.target)
        except OSError:
            client_out.close()
            return
        await asyncio.gather(
            self._pipe(client_in, server_out, late=False),
            self._pipe(server_in, client_out, late=True),
            return_exceptions=True,
        )
        for writer in (client_out, server_out):
            writer.close()

    async def _pipe(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, late: bool
    ) -> None:
        """Copy `source` to `sink`; with `late`, each chunk leaves `delay_s` after it came
        (chunks overlap in flight: a latency, not a bandwidth limit)."""
        due: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                at, chunk = await due.get()
                if not chunk:
                    break
                await asyncio.sleep(max(0.0, at - time.monotonic()))
                sink.write(chunk)
                await sink.drain()

        delivery = asyncio.create_task(deliver())
        try:
            while chunk := await source.read(65536):
                due.put_nowait((time.monotonic() + (self.delay_s if late else 0.0), chunk))
        finally:
            due.put_nowait((0.0, b""))
            with contextlib.suppress(Exception):
                await delivery
            with contextlib.suppress(Exception):
                sink.write_eof()
