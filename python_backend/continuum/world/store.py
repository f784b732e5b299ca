"""Persistent worlds: an append-only log of events in SQLite, with checksummed snapshots.

Layout: one folder per world under a worlds directory, ``<root>/<name>/world.sqlite`` (SQLite
in WAL mode) and ``<root>/<name>/world.lock``. Tables: ``events`` (seq, tick, time, kind, body:
the event's JSON), ``snapshots`` (seq, tick, time, sha256, body: the zlib-compressed JSON of
the state after event ``seq``) and ``meta``.

Durability: ``append`` returns only after its transaction's COMMIT. In WAL mode a commit is
written to the WAL file before it returns, so an acknowledged event survives kill -9 of the
process with any ``synchronous`` setting; the default ``"FULL"`` also fsyncs the WAL at every
commit, so acknowledged events survive a power loss or an OS crash too, at the cost of one
fsync per batch (``"NORMAL"`` skips it: faster, crash-safe, not power-loss-safe).

Reopening loads the newest snapshot whose checksum holds and replays the events after it. A
corrupt or truncated snapshot is skipped with a ``CorruptSnapshotWarning`` in favour of the one
before it (or of a replay from the start). One process writes a world at a time: the writer
holds an exclusive ``flock`` on world.lock, and a second writer gets ``WorldLockedError``
naming the holder's pid; ``read_only=True`` opens a view that needs no lock.

``compact`` drops the events at or before the oldest of the ``keep_snapshots`` newest valid
snapshots, and the snapshots before it. The states after that snapshot stay replayable to any
tick (and a damaged newest snapshot still has a fallback); states before it are gone, and
``state_at`` says so.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import sqlite3
import time
import urllib.parse
import warnings
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from continuum.errors import EventError, StoreError, WorldLockedError
from continuum.world.assets import HASH_PATTERN
from continuum.world.events import EntityAdded, Event, event_from_json
from continuum.world.scene import Scene
from continuum.world.state import WorldState, apply_in_place

FORMAT = 1
DB_FILE = "world.sqlite"
LOCK_FILE = "world.lock"
ASSETS_DIR = ".assets"  # the worlds' shared asset store (no world name starts with ".")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY, tick INTEGER NOT NULL, time REAL NOT NULL,
    kind TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX events_tick ON events (tick);
CREATE TABLE snapshots (
    seq INTEGER PRIMARY KEY, tick INTEGER NOT NULL, time REAL NOT NULL,
    sha256 TEXT NOT NULL, body BLOB NOT NULL);
"""


class CorruptSnapshotWarning(UserWarning):
    """A snapshot failed its checksum or could not be decoded; an older one is used instead."""


@dataclass(frozen=True)
class StoreConfig:
    """How a world store writes.

    Attributes:
        snapshot_every_events: take a snapshot after this many events since the last one
            (checked after each append, so a snapshot falls on a batch boundary).
        snapshot_every_s: or after this many seconds since the last one (checked likewise).
        synchronous: SQLite's ``synchronous`` in WAL mode: ``"FULL"`` (default: acknowledged
            events survive power loss) or ``"NORMAL"`` (they survive a process crash only).
        max_pages: a cap on the database's size in pages (``PRAGMA max_page_count``); None for
            no cap. A full database raises StoreError as a full disk does.
    """

    snapshot_every_events: int = 10_000
    snapshot_every_s: float = 60.0
    synchronous: str = "FULL"
    max_pages: int | None = None

    def __post_init__(self) -> None:
        if self.snapshot_every_events < 1:
            raise ValueError(
                f"snapshot_every_events must be >= 1, got {self.snapshot_every_events}"
            )
        if self.synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be 'FULL' or 'NORMAL', got {self.synchronous!r}")


def list_worlds(root: str | Path) -> list[str]:
    """The names of the worlds under ``root``, sorted."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / DB_FILE).is_file())


class WorldStore:
    """One persistent world, open for writing (or read-only). A context manager; close() it.

    Create with ``WorldStore.create``, open with ``WorldStore.open``. Not thread-safe: use it
    from one thread at a time (``World`` serialises its use under its lock). A read-only view
    takes no lock and shows the world as it was when opened; reopen it to see later events.
    """

    def __init__(
        self,
        folder: Path,
        conn: sqlite3.Connection,
        *,
        lock_fd: int | None,
        config: StoreConfig,
    ) -> None:
        self.folder = folder
        self.name = folder.name
        self.config = config
        self.read_only = lock_fd is None
        self._conn = conn
        self._lock_fd = lock_fd
        self._db = folder / DB_FILE
        meta = dict(self._sql(lambda: conn.execute("SELECT key, value FROM meta").fetchall()))
        if int(meta.get("format", "0")) != FORMAT:
            raise StoreError(
                f"{self._db}: world format {meta.get('format')!r}, this Continuum reads "
                f"format {FORMAT}"
            )
        self._meta = meta
        self._state = self._load(None)
        last = self._sql(lambda: conn.execute("SELECT max(seq) FROM snapshots").fetchone()[0])
        self._snapshot_seq = last or 0
        self._snapshot_time = time.monotonic()

    # -- opening and closing ---------------------------------------------------------------

    @staticmethod
    def check_name(name: str) -> str:
        """``name`` if it is a valid world name; raises StoreError naming the rule otherwise."""
        _folder(".", name)
        return name

    @classmethod
    def create(
        cls,
        root: str | Path,
        name: str,
        scene: Scene | None = None,
        *,
        config: StoreConfig | None = None,
    ) -> WorldStore:
        """Create the world ``name`` under ``root`` (its first events add ``scene``'s entities
        at tick 0) and open it for writing.

        Raises:
            StoreError: a bad name, a world of that name exists, or the folder is not writable.
        """
        folder = _folder(root, name)
        try:
            folder.mkdir(parents=True)
        except FileExistsError:
            raise StoreError(f"a world named {name!r} already exists in {folder.parent}") from None
        except OSError as exc:
            raise StoreError(f"cannot create world {name!r} in {folder.parent}: {exc}") from None
        conn = _connect(folder / DB_FILE, read_only=False, config=config or StoreConfig())
        with _translate(folder / DB_FILE, "create the world"), _transaction(conn):
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            info = scene.info() if scene is not None else {}
            conn.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [
                    ("format", str(FORMAT)),
                    ("created", str(time.time())),
                    ("compacted", "0"),
                    ("scene", json.dumps(info)),
                ],
            )
        conn.close()
        store = cls.open(root, name, config=config)
        if scene is not None and scene.entities:
            store.append(EntityAdded(entity=e.to_json()) for e in scene.entities)
            store.snapshot()
        return store

    @classmethod
    def open(
        cls,
        root: str | Path,
        name: str,
        *,
        read_only: bool = False,
        config: StoreConfig | None = None,
    ) -> WorldStore:
        """Open the world ``name`` under ``root``: its newest valid snapshot plus the events
        after it.

        Raises:
            WorldLockedError: another process has the world open for writing.
            StoreError: no such world, or its files cannot be read (or written).
        """
        folder = _folder(root, name)
        db = folder / DB_FILE
        if not db.is_file():
            raise StoreError(
                f"no world named {name!r} in {folder.parent} (list them: continuum world ls)"
            )
        config = config or StoreConfig()
        lock_fd = None if read_only else _lock(folder / LOCK_FILE, name)
        conn = None
        try:
            conn = _connect(db, read_only=read_only, config=config)
            return cls(folder, conn, lock_fd=lock_fd, config=config)
        except BaseException:
            if conn is not None:
                conn.close()
            if lock_fd is not None:
                os.close(lock_fd)
            raise

    def close(self) -> None:
        """Close the database (checkpointing the WAL) and release the lock. Idempotent."""
        if self._conn is None:
            return
        self._conn.close()
        self._conn = None  # type: ignore[assignment]
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def __enter__(self) -> WorldStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -----------------------------------------------------------------------------

    def append(self, events: Iterable[Event]) -> int:
        """Apply and store ``events`` in one transaction; returns the last event's seq.

        The events are acknowledged (durable, see the module docstring) when this returns.
        All or nothing: if one event does not apply, or the write fails, none is stored and
        the state is as before.

        Raises:
            EventError: an event does not fit the world (the message names it).
            StoreError: the database cannot be written (read-only or full disk, ...).
        """
        self._check_writable()
        state = self._state
        before = (
            dict(state.entities),
            state.physics,
            state.identities,
            state.narrative,
            state.seq,
            state.tick,
            state.time,
        )
        controls, n_controls = state.controls, len(state.controls)
        memory, n_memory = state.memory, len(state.memory)
        rows = []
        dumps = json.dumps
        try:
            for event in events:
                seq = state.seq + 1
                apply_in_place(state, event, seq=seq)
                rows.append((seq, event.tick, event.time, event.kind, dumps(event.to_json())))
            if rows:
                with _translate(self._db, "append events"), _transaction(self._conn):
                    self._conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", rows)
        except BaseException:
            (
                state.entities,
                state.physics,
                state.identities,
                state.narrative,
                state.seq,
                state.tick,
                state.time,
            ) = before
            del controls[n_controls:]  # appended to in place; a PhysicsSet replaced it
            state.controls = controls
            del memory[n_memory:]  # likewise; a MemoryFolded replaced it
            state.memory = memory
            raise
        if rows and (
            state.seq - self._snapshot_seq >= self.config.snapshot_every_events
            or time.monotonic() - self._snapshot_time >= self.config.snapshot_every_s
        ):
            self.snapshot()
        return state.seq

    def snapshot(self) -> int:
        """Store a snapshot of the current state now; returns its seq."""
        self._check_writable()
        state = self._state
        body = zlib.compress(json.dumps(state.to_json()).encode(), 1)
        digest = hashlib.sha256(body).hexdigest()
        with _translate(self._db, "write a snapshot"), _transaction(self._conn):
            self._conn.execute(
                "INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?, ?)",
                (state.seq, state.tick, state.time, digest, body),
            )
        self._snapshot_seq = state.seq
        self._snapshot_time = time.monotonic()
        return state.seq

    def compact(self, *, keep_snapshots: int = 2) -> dict[str, int]:
        """Snapshot now, then drop what the ``keep_snapshots`` newest valid snapshots make
        redundant (see the module docstring). Returns the counts dropped and the new first seq.
        """
        self._check_writable()
        if keep_snapshots < 1:
            raise ValueError(f"keep_snapshots must be >= 1, got {keep_snapshots}")
        if self._state.seq > 0:
            self.snapshot()
        valid = [seq for seq in self._snapshot_seqs(None) if self._read_snapshot(seq)][
            :keep_snapshots
        ]
        if not valid:
            return {"events_dropped": 0, "snapshots_dropped": 0, "compacted_through": 0}
        cut = valid[-1]
        with _translate(self._db, "compact the world"):
            with _transaction(self._conn):
                events = self._conn.execute("DELETE FROM events WHERE seq <= ?", (cut,)).rowcount
                snaps = self._conn.execute("DELETE FROM snapshots WHERE seq < ?", (cut,)).rowcount
                self._conn.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('compacted', ?)", (str(cut),)
                )
            self._conn.execute("VACUUM")
        self._meta["compacted"] = str(cut)
        return {"events_dropped": events, "snapshots_dropped": snaps, "compacted_through": cut}

    def fork(self, new_name: str, *, at: int | None = None) -> None:
        """Copy this world up to event ``at`` (default: all) to a new world ``new_name`` beside
        it. The fork is closed; open it with ``WorldStore.open``.

        Raises:
            StoreError: the name is taken, or ``at`` is out of range or already compacted.
        """
        at = self._state.seq if at is None else at
        self._check_seq(at)
        folder = _folder(self.folder.parent, new_name)
        if folder.exists():
            raise StoreError(f"a world named {new_name!r} already exists in {folder.parent}")
        fork = WorldStore.create(self.folder.parent, new_name, config=self.config)
        conn = fork._conn
        try:
            with _translate(fork._db, "fork the world"):
                conn.execute("ATTACH DATABASE ? AS src", (_uri(self._db, "ro"),))
                with _transaction(conn):
                    conn.execute(
                        "INSERT INTO events SELECT * FROM src.events WHERE seq <= ?", (at,)
                    )
                    conn.execute(
                        "INSERT INTO snapshots SELECT * FROM src.snapshots WHERE seq <= ?", (at,)
                    )
                    conn.executemany(
                        "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                        [
                            ("compacted", self._meta.get("compacted", "0")),
                            ("scene", self._meta.get("scene", "{}")),
                            ("forked_from", json.dumps({"world": self.name, "seq": at})),
                        ],
                    )
                conn.execute("DETACH DATABASE src")
        finally:
            fork.close()

    # -- reading -----------------------------------------------------------------------------

    def state(self) -> WorldState:
        """The current state (a copy: entity dicts are shared and must not be changed)."""
        self._check_open()
        return self._state.copy()

    @property
    def seq(self) -> int:
        """The last acknowledged event's seq (0 for none)."""
        return self._state.seq

    @property
    def scene_info(self) -> dict[str, Any]:
        """The scene the world was made from: name, description, folder (``path``) and
        ``mjcf`` (``WorldState.to_scene`` turns a state into that scene)."""
        return json.loads(self._meta.get("scene", "{}"))

    def asset_refs(self) -> dict[str, int]:
        """Asset hash -> how many stored events (and the base snapshot of a compacted world)
        name it: the assets this world needs to rebuild any state it still can."""
        self._check_open()
        counts: dict[str, int] = {}
        rows = self._sql(
            lambda: self._conn.execute(
                "SELECT body FROM events WHERE kind IN "
                "('entity_added', 'component_set', 'identity_set', 'memory_added', "
                "'memory_folded', 'narrative_set') "
                "AND body LIKE '%\"asset\"%'"
            ).fetchall()
        )
        docs: list[Any] = [json.loads(body) for (body,) in rows]
        if self._compacted():
            base = self._read_snapshot(self._compacted())
            if base is None:
                raise StoreError(f"{self._db}: the base snapshot {self._compacted()} is corrupt")
            docs.append(base.to_json()["entities"])
        for doc in docs:
            for digest in _asset_hashes(doc):
                counts[digest] = counts.get(digest, 0) + 1
        return counts

    def state_at(self, *, seq: int | None = None, tick: int | None = None) -> WorldState:
        """The state right after event ``seq``, or after the last event at or before ``tick``:
        the nearest valid snapshot before it plus replay.

        Raises:
            StoreError: neither or both given, out of range, or compacted away.
        """
        self._check_open()
        if (seq is None) == (tick is None):
            raise StoreError("state_at needs exactly one of seq= or tick=")
        if tick is not None:
            row = self._sql(
                lambda: self._conn.execute(
                    "SELECT max(seq) FROM events WHERE tick <= ?", (tick,)
                ).fetchone()
            )
            seq = row[0] or 0
            if seq == 0 and self._compacted() > 0:
                seq = self._compacted() if tick >= self._snapshot_tick(self._compacted()) else -1
            if seq < 0:
                raise StoreError(f"{self._db}: tick {tick} was compacted away")
        self._check_seq(seq)
        return self._load(seq)

    def events(self, *, after: int = 0, upto: int | None = None) -> Iterator[tuple[int, Event]]:
        """The stored events ``(seq, event)`` with ``after < seq <= upto``, in order."""
        self._check_open()
        upto = self._state.seq if upto is None else upto
        cursor = self._sql(
            lambda: self._conn.execute(
                "SELECT seq, body FROM events WHERE seq > ? AND seq <= ? ORDER BY seq",
                (after, upto),
            )
        )
        for seq, body in cursor:
            yield seq, _decode_event(body, seq)

    def info(self) -> dict[str, Any]:
        """Figures about the world: name, seq, tick, entities, stored events and snapshots..."""
        self._check_open()

        def count(table: str) -> int:
            return self._sql(
                lambda: self._conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            )

        size = sum(p.stat().st_size for p in self.folder.iterdir() if p.is_file())
        forked = self._meta.get("forked_from")
        return {
            "name": self.name,
            "path": str(self.folder),
            "seq": self._state.seq,
            "tick": self._state.tick,
            "entities": len(self._state.entities),
            "events_stored": count("events"),
            "snapshots": count("snapshots"),
            "compacted_through": self._compacted(),
            "bytes": size,
            "created": float(self._meta["created"]),
            "forked_from": json.loads(forked) if forked else None,
        }

    def export(self, path: str | Path) -> int:
        """Write the world as JSON lines: a header, the base snapshot if the world was
        compacted, then every stored event ``{"seq": ..., "event": {...}}``. Returns the count
        of events written."""
        self._check_open()
        compacted = self._compacted()
        n = 0
        try:
            with open(path, "w", encoding="utf-8") as out:
                header = {"format": "continuum.world", "version": FORMAT, "name": self.name}
                out.write(json.dumps(header) + "\n")
                if compacted:
                    base = self._read_snapshot(compacted)
                    if base is None:
                        raise StoreError(f"{self._db}: the base snapshot {compacted} is corrupt")
                    out.write(json.dumps({"snapshot": base.to_json()}) + "\n")
                for seq, event in self.events(after=compacted):
                    out.write(json.dumps({"seq": seq, "event": event.to_json()}) + "\n")
                    n += 1
        except OSError as exc:
            raise StoreError(f"cannot write {path}: {exc}") from None
        return n

    # -- internals ---------------------------------------------------------------------------

    def _load(self, upto: int | None) -> WorldState:
        """The newest valid snapshot at or before ``upto`` (None: the end) plus replay."""
        state = None
        for seq in self._snapshot_seqs(upto):
            state = self._read_snapshot(seq)
            if state is not None:
                break
        if state is None:
            if self._compacted() > 0:
                raise StoreError(
                    f"{self._db}: no valid snapshot left at or before seq {upto} and the events "
                    f"before {self._compacted()} were compacted away; the world cannot be rebuilt"
                )
            state = WorldState()
        return self._replay(state, upto)

    def _replay(self, state: WorldState, upto: int | None) -> WorldState:
        upto = 2**62 if upto is None else upto
        rows = self._sql(
            lambda: self._conn.execute(
                "SELECT seq, body FROM events WHERE seq > ? AND seq <= ? ORDER BY seq",
                (state.seq, upto),
            ).fetchall()
        )
        for seq, body in rows:
            if seq != state.seq + 1:
                raise StoreError(f"{self._db}: event {state.seq + 1} is missing (next is {seq})")
            apply_in_place(state, _decode_event(body, seq), seq=seq)
        return state

    def _snapshot_seqs(self, upto: int | None) -> list[int]:
        upto = 2**62 if upto is None else upto
        rows = self._sql(
            lambda: self._conn.execute(
                "SELECT seq FROM snapshots WHERE seq <= ? ORDER BY seq DESC", (upto,)
            ).fetchall()
        )
        return [r[0] for r in rows]

    def _snapshot_tick(self, seq: int) -> int:
        row = self._sql(
            lambda: self._conn.execute("SELECT tick FROM snapshots WHERE seq = ?", (seq,))
        ).fetchone()
        return row[0] if row else 2**62

    def _read_snapshot(self, seq: int) -> WorldState | None:
        """The snapshot at ``seq``, or None (with a CorruptSnapshotWarning) if it is damaged."""
        digest, body = self._sql(
            lambda: self._conn.execute(
                "SELECT sha256, body FROM snapshots WHERE seq = ?", (seq,)
            ).fetchone()
        )
        try:
            if not isinstance(body, bytes) or hashlib.sha256(body).hexdigest() != digest:
                raise ValueError("its checksum does not match (corrupt or truncated)")
            state = WorldState.from_json(json.loads(zlib.decompress(body)))
            if state.seq != seq:
                raise ValueError(f"it holds seq {state.seq}")
            return state
        except (ValueError, KeyError, TypeError, zlib.error) as exc:
            warnings.warn(
                f"{self._db}: snapshot at seq {seq} is unusable ({exc}); falling back to an "
                "earlier snapshot and replaying the events after it",
                CorruptSnapshotWarning,
                stacklevel=3,
            )
            return None

    def _compacted(self) -> int:
        return int(self._meta.get("compacted", "0"))

    def _check_seq(self, seq: int) -> None:
        if not 0 <= seq <= self._state.seq:
            raise StoreError(f"seq {seq} is out of range: world {self.name!r} has 0..{self.seq}")
        if seq < self._compacted():
            raise StoreError(
                f"seq {seq} of world {self.name!r} was compacted away (it starts at "
                f"{self._compacted()})"
            )

    def _check_open(self) -> None:
        if self._conn is None:
            raise StoreError(f"world {self.name!r} is closed")

    def _check_writable(self) -> None:
        self._check_open()
        if self.read_only:
            raise StoreError(f"world {self.name!r} is open read-only; open it without read_only")

    def _sql(self, run: Any) -> Any:
        with _translate(self._db, "read the world"):
            return run()


def _folder(root: str | Path, name: str) -> Path:
    if not isinstance(name, str) or not _NAME.match(name):
        raise StoreError(
            f"world name must be 1-128 letters, digits, '_', '-' or '.', not starting with "
            f"'.' or '-', got {name!r}"
        )
    return Path(root) / name


def _connect(db: Path, *, read_only: bool, config: StoreConfig) -> sqlite3.Connection:
    with _translate(db, "open the world"):
        if read_only:
            conn = sqlite3.connect(
                _uri(db, "ro"), uri=True, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA query_only = 1")
            return conn
        # One thread at a time, but not always the one that opened it (a server's worker).
        conn = sqlite3.connect(
            _uri(db, "rwc"), uri=True, isolation_level=None, check_same_thread=False
        )
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise StoreError(f"{db}: cannot use WAL journaling (got {mode!r})")
        conn.execute(f"PRAGMA synchronous = {config.synchronous}")
        if config.max_pages is not None:
            conn.execute(f"PRAGMA max_page_count = {int(config.max_pages)}")
        return conn


def _uri(db: Path, mode: str) -> str:
    return f"file:{urllib.parse.quote(str(db.absolute()))}?mode={mode}"


def _lock(path: Path, name: str) -> int:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"cannot open {path} for writing: {_os_reason(exc)}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raw = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        pid = int(raw) if raw.isdigit() else None
        holder = f"process {pid}" if pid else "another process"
        raise WorldLockedError(
            f"world {name!r} is already open for writing by {holder} (lock {path}); close it "
            "there first, or open it with read_only=True",
            pid=pid,
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


def _os_reason(exc: OSError) -> str:
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"the file system is read-only or the folder is not writable ({exc.strerror})"
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    return str(exc)


@contextlib.contextmanager
def _translate(db: Path, action: str) -> Iterator[None]:
    """Turn SQLite errors into StoreError with a reason a user can act on."""
    try:
        yield
    except sqlite3.Error as exc:
        text = str(exc).lower()
        if "readonly" in text or "read-only" in text:
            reason = "the database is read-only (a read-only file system or file permissions)"
        elif "full" in text:
            reason = "the disk (or the database's size cap) is full"
        elif "locked" in text or "busy" in text:
            reason = "another process holds the database"
        elif "malformed" in text or "not a database" in text:
            reason = "the database file is damaged"
        elif "unable to open" in text:
            reason = "the file cannot be opened (missing, or no permission)"
        else:
            reason = str(exc)
        raise StoreError(f"{db}: cannot {action}: {reason} ({exc})") from exc


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (if SQLite has not already)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _decode_event(body: str, seq: int) -> Event:
    try:
        return event_from_json(json.loads(body))
    except ValueError as exc:
        raise EventError(f"event {seq} is not valid JSON: {exc}") from None
    except EventError as exc:
        raise EventError(f"event {seq}: {exc}") from None


def _asset_hashes(doc: Any) -> Iterator[str]:
    """Every asset hash a JSON value names (as the value of an ``"asset"`` key)."""
    stack = [doc]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            ref = value.get("asset")
            if isinstance(ref, str) and HASH_PATTERN.fullmatch(ref):
                yield ref
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def collect_assets(root: str | Path, *, grace_s: float = 3600.0) -> dict[str, int]:
    """Delete the assets in ``root``'s shared store (``root/.assets``) that no world under
    ``root`` names any more (``WorldStore.asset_refs``), but those younger than ``grace_s``
    (a backend may have stored one and not yet written the event naming it). Returns the counts
    of assets kept and removed and the octets freed.

    Raises:
        StoreError: a world cannot be read (nothing is removed then).
    """
    from continuum.world.assets import AssetStore  # the store's own garbage rule

    root = Path(root)
    needed: set[str] = set()
    for name in list_worlds(root):
        with WorldStore.open(root, name, read_only=True) as store:
            needed.update(store.asset_refs())
    with AssetStore(root / ASSETS_DIR) as assets:
        return assets.collect(needed, grace_s=grace_s)
