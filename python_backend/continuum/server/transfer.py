"""Asset transfers (PROTOCOL.md, "Assets"): an asset's chunks pushed under credit.

A transfer sends the chunks a client asked for, one ``asset.chunk`` push per chunk, never more
than the client has granted (``credit``). Each transfer runs as its own asyncio task that waits
for credit, reads its next chunk in a worker thread (a cold disk never stalls the event loop) and
sends it; tasks take turns chunk by chunk, so many clients progress together and requests and
ticks are served in between.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from continuum.errors import ProtocolError
from continuum.server.codec import Message
from continuum.world.assets import AssetInfo, AssetStore

Push = Callable[[Message], Awaitable[None]]


def chunk_count(size: int, chunk_bytes: int) -> int:
    """Chunks of an asset of ``size`` octets; an empty asset still has one (empty) chunk."""
    return max(1, math.ceil(size / chunk_bytes))


@dataclass(eq=False)
class Transfer:
    """One client's download of one asset.

    Attributes:
        id: the transfer's number, unique in its session.
        asset: what is sent.
        chunk_bytes: octets per chunk (the last chunk of the asset is shorter).
        indices: the chunks to send, ascending.
        credit: chunks granted and not yet sent.
        max_credit: the bound on ``credit``.
        task: the task running ``run``, once started.
    """

    id: int
    asset: AssetInfo
    chunk_bytes: int
    indices: Sequence[int]
    credit: int
    max_credit: int
    task: asyncio.Task | None = None
    _granted: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)

    def grant(self, credit: int) -> int:
        """Allow ``credit`` more chunks; returns the credit now outstanding.

        Raises:
            ProtocolError: ``bad_request`` when the outstanding credit would exceed
                ``max_credit``; nothing is granted then.
        """
        if self.credit + credit > self.max_credit:
            raise ProtocolError(
                "bad_request",
                f"asset.credit: transfer {self.id} has {self.credit} chunks granted and unsent; "
                f"{credit} more would exceed max_credit={self.max_credit}; grant at most "
                f"{self.max_credit - self.credit}, after receiving chunks",
            )
        self.credit += credit
        self._granted.set()
        return self.credit

    def cancel(self) -> None:
        """Stop sending; no chunk leaves after this returns."""
        if self.task is not None:
            self.task.cancel()

    async def run(self, store: AssetStore, push: Push) -> None:
        """Send every chunk of ``indices`` through ``push``, each when credit allows."""
        loop = asyncio.get_running_loop()
        last = len(self.indices) - 1
        for position, index in enumerate(self.indices):
            while self.credit == 0:
                self._granted.clear()
                await self._granted.wait()
            self.credit -= 1  # the chunk in hand counts as sent
            offset = index * self.chunk_bytes
            size = min(self.chunk_bytes, self.asset.bytes - offset)
            data, digest = await loop.run_in_executor(
                None, _read_chunk, store, self.asset.hash, offset, size
            )
            header = {
                "transfer": self.id,
                "hash": self.asset.hash,
                "index": index,
                "offset": offset,
                "sha256": digest,
                "last": position == last,
            }
            await push(Message("asset.chunk", header, [np.frombuffer(data, dtype=np.uint8)]))


def _read_chunk(store: AssetStore, hash: str, offset: int, size: int) -> tuple[bytes, str]:
    data = store.read(hash, offset, size)
    return data, hashlib.sha256(data).hexdigest()
