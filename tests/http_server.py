"""A local HTTP server on 127.0.0.1 whose faults tests switch on and off."""

from __future__ import annotations

import http.server
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Server:
    """Serves ``files`` by name; ``fault`` is None, "truncate", "slow", "corrupt" or "error500"."""

    files: dict[str, bytes] = field(default_factory=dict)
    fault: str | None = None
    requests: int = 0
    port: int = 0

    def url(self, name: str) -> str:
        """The URL of ``name`` on this server."""
        return f"http://127.0.0.1:{self.port}/{name}"


@contextmanager
def serve(files: dict[str, bytes], port: int = 0) -> Iterator[Server]:
    """Run a :class:`Server` on loopback (a free port unless ``port``) for the duration of the block."""
    state = Server(files=dict(files))

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:  # noqa: N802
            state.requests += 1
            body = state.files.get(self.path.lstrip("/"))
            if body is None or state.fault == "error500":
                self.send_error(404 if body is None else 500)
                return
            if state.fault == "slow":
                time.sleep(2.0)
            if state.fault == "corrupt":
                body = body[:-1] + bytes([body[-1] ^ 1])
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2] if state.fault == "truncate" else body)

    http.server.ThreadingHTTPServer.allow_reuse_address = True
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def wait_until_up(url: str, process: subprocess.Popen, log: Path, timeout: float = 120.0) -> None:
    """Poll ``url`` until it answers; fail with the server's log if the process ends or time runs out."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)  # a refused connection costs nothing: do not wait longer than needed
