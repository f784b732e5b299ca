"""A blocking Python client of the bridge: scripts, tests and benchmarks use it.

It speaks through pyzmq (DEALER + SUB), like the engine plugin does through its own ZMTP.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import zmq

from continuum.errors import ContinuumError, ProtocolError
from continuum.server.codec import Message, decode_message, encode_message
from continuum.server.protocol import PROTOCOL_VERSION


class RemoteError(ContinuumError):
    """The backend answered with an ``error`` message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class BridgeClient:
    """One session with a backend. A context manager; ``close()`` releases the sockets.

    Args:
        host, port: the backend's request endpoint.
        token: access token, when the backend requires one.
        timeout_s: how long ``request`` waits for a reply before raising.
        hello: send ``hello`` at once (the welcome is kept in ``welcome``).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 5570,
        *,
        token: str | None = None,
        timeout_s: float = 10.0,
        hello: bool = True,
    ) -> None:
        self.host, self.port = host, port
        self.timeout_ms = int(timeout_s * 1000)
        self._ctx = zmq.Context()
        self._dealer = self._ctx.socket(zmq.DEALER)
        self._dealer.setsockopt(zmq.LINGER, 0)
        self._dealer.connect(f"tcp://{host}:{port}")
        self._sub: zmq.Socket | None = None
        self._ids = itertools.count(1)
        self.welcome: dict[str, Any] = {}
        if hello:
            header = {"protocol": PROTOCOL_VERSION, "client": "continuum-python"}
            if token is not None:
                header["token"] = token
            try:
                self.welcome = self.request("hello", header).header
            except BaseException:
                self.close()
                raise

    def __enter__(self) -> BridgeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for sock in (self._dealer, self._sub):
            if sock is not None:
                sock.close(linger=0)
        self._ctx.term()

    def request(
        self, kind: str, header: dict[str, Any] | None = None, blobs: list[np.ndarray] | None = None
    ) -> Message:
        """Send one request and wait for its reply; raises RemoteError on an ``error`` reply."""
        rid = next(self._ids)
        message = Message(kind, {**(header or {}), "id": rid}, list(blobs or []))
        self._dealer.send_multipart(encode_message(message), copy=False)
        while True:
            if not self._dealer.poll(self.timeout_ms):
                raise ContinuumError(
                    f"no reply to {kind!r} from tcp://{self.host}:{self.port} within "
                    f"{self.timeout_ms / 1000:g} s: is `continuum serve` running there?"
                )
            reply = self._decode(self._dealer.recv_multipart(copy=False))
            if reply.header.get("re") not in (rid, None):
                continue  # a late answer to an earlier request that timed out
            if reply.kind == "error":
                raise RemoteError(reply.header.get("code", "?"), reply.header.get("message", ""))
            return reply

    def subscribe(self, topics: list[str]) -> Message:
        """Ask for ``topics`` and connect the SUB socket to the state stream."""
        reply = self.request("subscribe", {"topics": topics})
        if self._sub is None:
            self._sub = self._ctx.socket(zmq.SUB)
            self._sub.setsockopt(zmq.LINGER, 0)
            self._sub.connect(f"tcp://{self.host}:{reply.header['pub_port']}")
        for topic in topics:
            self._sub.setsockopt(zmq.SUBSCRIBE, topic.encode("ascii"))
        return reply

    def stream(self, timeout_s: float = 5.0) -> Message:
        """The next message of the state stream."""
        if self._sub is None:
            raise ContinuumError("call subscribe() before stream()")
        if not self._sub.poll(int(timeout_s * 1000)):
            raise ContinuumError(f"no state-stream message within {timeout_s:g} s")
        return self._decode(self._sub.recv_multipart(copy=False))

    @staticmethod
    def _decode(frames: list[zmq.Frame]) -> Message:
        try:
            return decode_message([f.buffer for f in frames])
        except ProtocolError as exc:
            raise RemoteError(exc.code, f"the backend sent a malformed message: {exc}") from None
