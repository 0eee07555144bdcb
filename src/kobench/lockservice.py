"""Named locks served by `kobench storage-proxy` beside Optuna's gRPC storage, for the workers it serves.

Workers of a gRPC storage proxy reach no database and share no folder, yet two of them must not both take the
study's last trial (the budget claim) nor both finalise it. The proxy therefore also serves one method,
``/kobench.StoreLocks/Hold``: a call whose first message names a lock. The server answers ``held`` and keeps the
lock for as long as the call lasts, or answers ``busy`` at once and ends the call; the client retries with a
short random back-off. The lock is released when the holder closes its side of the call, and also when the call
breaks: a holder killed by SIGKILL closes its connection, so its lock is free at once (like a PostgreSQL advisory
lock when its connection ends). Waiting holds no server thread; holding one does.

grpcio is imported inside the functions (``pip install -e '.[grpc]'``).
"""

from __future__ import annotations

import contextlib
import queue
import random
import threading
import time
from collections.abc import Iterator

from kobench.names import LOCK_SERVICE

HELD, BUSY = b"held", b"busy"


def require_grpc():  # noqa: ANN201
    """The ``grpc`` module.

    Raises:
        KobenchError: grpcio is not installed (one line saying how to install it).
    """
    try:
        import grpc
    except ImportError as exc:
        from kobench.errors import KobenchError

        raise KobenchError("grpc:// storages and `kobench storage-proxy` need grpcio: pip install -e '.[grpc]'") from exc
    return grpc


class Locks:
    """The server side: which lock each live call holds."""

    def __init__(self) -> None:
        self._holders: dict[str, str] = {}
        self._guard = threading.Lock()

    def hold(self, requests: Iterator[bytes], context) -> Iterator[bytes]:  # noqa: ANN001
        """Take the lock named by the first message, keep it until the call ends; ``busy`` if another call has it."""
        key = next(requests).decode()
        with self._guard:
            if key in self._holders:
                yield BUSY
                return
            self._holders[key] = context.peer()
        try:
            yield HELD
            with contextlib.suppress(Exception):  # the client closed its side (release) or the call broke (death)
                for _ in requests:
                    pass
        finally:
            with self._guard:
                self._holders.pop(key, None)

    def held(self) -> dict[str, str]:
        """Lock name -> the peer holding it (for messages and tests)."""
        with self._guard:
            return dict(self._holders)


def handler(locks: Locks):  # noqa: ANN201
    """The generic gRPC handler of ``/kobench.StoreLocks/Hold`` (raw bytes in and out)."""
    grpc = require_grpc()
    service, _, method = LOCK_SERVICE.strip("/").partition("/")
    return grpc.method_handlers_generic_handler(service, {method: grpc.stream_stream_rpc_method_handler(locks.hold)})


@contextlib.contextmanager
def hold(
    address: tuple[str, int], key: str, *, poll: float = 0.02, max_poll: float = 0.5, connect_timeout: float = 60.0
) -> Iterator[None]:
    """Hold the lock ``key`` of the proxy at ``address`` for the ``with`` block; wait while another holds it.

    Raises:
        KobenchError: the proxy does not answer (not running, wrong address) or serves no lock method (a plain
            Optuna proxy: the budget could not be claimed atomically).
    """
    from kobench.errors import KobenchError
    from kobench.interrupts import check as check_interrupted

    grpc = require_grpc()
    host, port = address
    channel = grpc.insecure_channel(f"{host}:{port}")
    call = channel.stream_stream(LOCK_SERVICE)
    try:
        try:
            grpc.channel_ready_future(channel).result(timeout=connect_timeout)
        except grpc.FutureTimeoutError as exc:
            raise KobenchError(f"Optuna storage grpc://{host}:{port}: no answer within {connect_timeout:.0f} s; "
                               "is `kobench storage-proxy` running there?") from exc
        while True:
            outbox = queue.SimpleQueue()
            outbox.put(key.encode())
            responses = call(iter(outbox.get, None))
            try:
                answer = next(responses)
            except grpc.RpcError as exc:
                outbox.put(None)
                if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                    raise KobenchError(
                        f"Optuna storage grpc://{host}:{port}: the proxy serves no lock; start it with `kobench "
                        "storage-proxy` (a plain Optuna proxy cannot keep the trial budget exact)"
                    ) from exc
                raise KobenchError(f"Optuna storage grpc://{host}:{port}: {exc.code().name}: {exc.details()}") from exc
            if answer == HELD:
                break
            outbox.put(None)
            with contextlib.suppress(grpc.RpcError):
                for _ in responses:
                    pass
            check_interrupted()  # waiting is a safe point to stop at
            time.sleep(random.uniform(poll, min(max_poll, poll * 4)))  # noqa: S311
            poll = min(max_poll, poll * 1.5)
        try:
            yield
        finally:
            outbox.put(None)  # closes our side: the server releases the lock and ends the call
            with contextlib.suppress(grpc.RpcError):
                for _ in responses:
                    pass
    finally:
        channel.close()


def check_reachable(address: tuple[str, int], what: str, timeout: float = 10.0) -> None:
    """The proxy at ``address`` accepts a connection within ``timeout`` seconds.

    Raises:
        KobenchError: one line naming the address.
    """
    from kobench.errors import KobenchError

    grpc = require_grpc()
    host, port = address
    with grpc.insecure_channel(f"{host}:{port}") as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=timeout)
        except grpc.FutureTimeoutError as exc:
            raise KobenchError(f"{what} grpc://{host}:{port}: no answer within {timeout:.0f} s; "
                               "is `kobench storage-proxy` running there?") from exc
