"""A real HTTP endpoint for webhook tests: ``http.server`` on 127.0.0.1 in a thread.

It records every POST (headers and body), answers ``status`` (settable while it runs),
and with ``hold`` cleared keeps each request waiting until the hold is set again (a
delivery in flight, for a kill -9)."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        data: dict[str, Any] = orjson.loads(self.body)
        return data


@dataclass
class Receiver:
    url: str = ""
    status: int = 200
    received: list[Received] = field(default_factory=list)
    answered: list[tuple[str, int]] = field(default_factory=list)  # (cursor, status)
    hold: threading.Event = field(default_factory=threading.Event)
    in_flight: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ok(self) -> list[Received]:
        """The deliveries answered 2xx, in the order they arrived."""
        with self.lock:
            good = {i for i, (_, s) in enumerate(self.answered) if 200 <= s < 300}
            return [r for i, r in enumerate(self.received) if i in good]

    def wait_for(self, count: int, timeout: float) -> list[Received]:
        deadline = time.monotonic() + timeout
        while True:
            ok = self.ok()
            if len({r.event["cursor"] for r in ok}) >= count:
                return ok
            assert time.monotonic() < deadline, f"{len(ok)} of {count} deliveries arrived"
            time.sleep(0.05)


def verify(secret: str, header: str, body: bytes, *, tolerance: int = 300) -> bool:
    """The receiver's check of ``Punchclock-Signature`` (as the README shows it)."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp = int(parts["t"])
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), parts["v1"])


@contextmanager
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    state.hold.set()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with state.lock:
                index = len(state.received)
                state.received.append(Received(dict(self.headers.items()), body))
                state.answered.append(("", 0))
            state.in_flight.set()
            state.hold.wait()
            status = state.status
            try:
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()
            except OSError:  # the sender was killed while waiting
                status = 0
            with state.lock:
                state.answered[index] = (orjson.loads(body)["cursor"], status)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.hold.set()
        server.shutdown()
        server.server_close()
