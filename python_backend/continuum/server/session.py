"""Per-connection state on the backend: handshake, request budget, subscriptions, transfers."""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from continuum.server.transfer import Transfer


@dataclass
class TokenBucket:
    """A request budget: ``burst`` at once, refilled at ``rate_per_s``."""

    rate_per_s: float
    burst: float
    tokens: float = -1.0
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.burst

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate_per_s)
        self.stamp = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


@dataclass
class Session:
    """One DEALER connection, keyed by its ROUTER routing id."""

    routing_id: bytes
    budget: TokenBucket
    id: str = field(default_factory=lambda: secrets.token_hex(8))
    client: str = ""
    protocol: str = ""
    handshaken: bool = False
    topics: set[str] = field(default_factory=set)
    last_seen: float = field(default_factory=time.monotonic)
    requests: int = 0
    pending: int = 0  # physics requests queued or running in the physics worker
    transfers: dict[int, Transfer] = field(default_factory=dict)
    _transfer_ids: Iterator[int] = field(
        default_factory=lambda: itertools.count(1), init=False, repr=False
    )

    def next_transfer_id(self) -> int:
        return next(self._transfer_ids)

    def close(self) -> None:
        """Cancel what the session still runs (its transfers): it is being forgotten."""
        for transfer in self.transfers.values():
            transfer.cancel()
        self.transfers.clear()


class SessionTable:
    """Sessions by routing id, bounded in number, forgetting the idle ones."""

    def __init__(
        self,
        *,
        max_sessions: int,
        idle_timeout_s: float,
        rate_per_s: float,
        burst: int,
        on_forget: Callable[[Session], None] | None = None,
    ):
        self.max_sessions = max_sessions
        self._on_forget = on_forget  # what else the server drops with a session
        self.idle_timeout_s = idle_timeout_s
        self._rate, self._burst = rate_per_s, burst
        self._sessions: dict[bytes, Session] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._sessions.values()))

    def get_or_create(self, routing_id: bytes, now: float) -> Session | None:
        """The session of ``routing_id``; a new one if there is room, else None."""
        session = self._sessions.get(routing_id)
        if session is None:
            if len(self._sessions) >= self.max_sessions:
                self.expire(now)
            if len(self._sessions) >= self.max_sessions:
                return None
            session = Session(routing_id, TokenBucket(self._rate, self._burst))
            self._sessions[routing_id] = session
        session.last_seen = now
        return session

    def expire(self, now: float) -> int:
        """Forget sessions idle for longer than the timeout, closing them; returns how many."""
        stale = [r for r, s in self._sessions.items() if now - s.last_seen > self.idle_timeout_s]
        for r in stale:
            session = self._sessions.pop(r)
            session.close()
            if self._on_forget is not None:
                self._on_forget(session)
        return len(stale)
