"""A blocking Python client of the bridge: scripts, tests and benchmarks use it.

It speaks through pyzmq (DEALER + SUB), like the engine plugin does through its own ZMTP.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import deque
from collections.abc import Callable
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

    Reliable pushes (messages without ``re``, such as ``asset.announce``) that arrive while the
    client waits for a reply are kept, in order, until ``push()`` returns them.

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
        self._pushes: deque[Message] = deque()
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
            reply = self._receive(f"reply to {kind!r}", self.timeout_ms)
            if "re" not in reply.header:
                self._pushes.append(reply)
                continue
            if reply.header["re"] not in (rid, None):
                continue  # a late answer to an earlier request that timed out
            _raise_if_error(reply)
            return reply

    def push(self, timeout_s: float = 5.0) -> Message:
        """The next reliable push from the backend (kept ones first)."""
        return self._next_push(lambda m: True, "push", timeout_s)

    def fetch_asset(self, hash: str, *, credit: int = 4) -> bytes:
        """Download asset ``hash`` with ``asset.get``, keeping ``credit`` chunks granted ahead.

        Every chunk is checked against its ``sha256`` and the whole asset against ``hash``.

        Raises:
            RemoteError: the backend refused (``not_found`` for an unknown hash, say).
            ContinuumError: a chunk or the asset failed its check, or a chunk did not come.
        """
        reply = self.request("asset.get", {"hash": hash, "credit": credit}).header
        transfer, chunk_bytes, chunks = reply["transfer"], reply["chunk_bytes"], reply["chunks"]
        data = bytearray(reply["bytes"])
        granted = credit  # chunks granted so far, the first asset.get's included
        for index in range(chunks):
            chunk = self._next_push(
                lambda m: m.kind == "asset.chunk" and m.header.get("transfer") == transfer,
                f"chunk {index} of asset {hash}",
                self.timeout_ms / 1000,
                transfer=transfer,
            )
            octets = memoryview(chunk.blobs[0] if chunk.blobs else b"").cast("B")
            offset = index * chunk_bytes
            if (
                chunk.header.get("index") != index
                or chunk.header.get("offset") != offset
                or hashlib.sha256(octets).hexdigest() != chunk.header.get("sha256")
                or offset + len(octets) > len(data)
            ):
                raise ContinuumError(
                    f"chunk {index} of asset {hash} failed its check (index, offset or sha256): "
                    "it was corrupted or reordered in transit"
                )
            data[offset : offset + len(octets)] = octets
            # Top the credit up in batches, half the window at a time, never past the end.
            outstanding = granted - (index + 1)
            more = min(credit - outstanding, chunks - granted)
            if outstanding <= credit // 2 and more > 0:
                self.request("asset.credit", {"transfer": transfer, "credit": more})
                granted += more
        if hashlib.sha256(data).hexdigest() != hash:
            raise ContinuumError(f"asset {hash} does not match its hash after the transfer")
        return bytes(data)

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

    def _next_push(
        self,
        wanted: Callable[[Message], bool],
        what: str,
        timeout_s: float,
        *,
        transfer: int | None = None,
    ) -> Message:
        """The first push ``wanted`` accepts; others are kept for later.

        An ``error`` that answers no request and names ``transfer`` is raised as RemoteError.
        """
        for message in self._pushes:
            if wanted(message):
                self._pushes.remove(message)
                return message
        while True:
            message = self._receive(what, int(timeout_s * 1000))
            if "re" not in message.header:
                if wanted(message):
                    return message
                self._pushes.append(message)
            elif transfer is not None and message.header.get("transfer") == transfer:
                _raise_if_error(message)
            # anything else is a late answer to a request that timed out

    def _receive(self, what: str, timeout_ms: int) -> Message:
        if not self._dealer.poll(timeout_ms):
            raise ContinuumError(
                f"no {what} from tcp://{self.host}:{self.port} within {timeout_ms / 1000:g} s: "
                "is `continuum serve` running there?"
            )
        return self._decode(self._dealer.recv_multipart(copy=False))

    @staticmethod
    def _decode(frames: list[zmq.Frame]) -> Message:
        try:
            return decode_message([f.buffer for f in frames])
        except ProtocolError as exc:
            raise RemoteError(exc.code, f"the backend sent a malformed message: {exc}") from None


def _raise_if_error(message: Message) -> None:
    if message.kind == "error":
        raise RemoteError(message.header.get("code", "?"), message.header.get("message", ""))
