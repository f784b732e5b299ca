"""Content-addressed assets: immutable byte strings named by their sha256, kept as files.

    root/ab/abcdef...           the asset's octets; the name is the whole hash (lowercase hex)
    root/ab/abcdef....json      what the asset is: {"bytes", "kind", "meta"}

Both files are written under a temporary name, flushed to disk and renamed into place, the
description last: a crash leaves a whole asset or none (a data file without its description is
not an asset, and the next ``put`` of those bytes rewrites it). Assets never change once written,
so a store is safe to use from several threads at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from continuum.errors import AssetError, AssetNotFoundError

HASH_PATTERN = re.compile(r"[0-9a-f]{64}")
DEFAULT_MAX_ASSET_BYTES = 1 << 30
_MAX_KIND_CHARS = 64


@dataclass(frozen=True)
class AssetInfo:
    """What the store knows of one asset (treat ``meta`` as read-only: assets are immutable).

    Attributes:
        hash: sha256 of the octets, 64 lowercase hex digits; the asset's name.
        bytes: its length in octets.
        kind: what the octets are, e.g. ``"splat-pack"``.
        meta: JSON-compatible facts about it, given by whoever stored it first.
    """

    hash: str
    bytes: int
    kind: str
    meta: dict[str, Any] = field(default_factory=dict)


def check_hash(value: object) -> str:
    """``value`` if it is a well-formed asset hash; raises AssetError otherwise."""
    if not isinstance(value, str) or not HASH_PATTERN.fullmatch(value):
        raise AssetError(f"an asset hash is a sha256 in 64 lowercase hex digits, got {value!r:.80}")
    return value


class AssetStore:
    """Assets on disk under ``root``, deduplicated by content. A context manager.

    Args:
        root: the folder (created if missing); None for a temporary folder that ``close()``
            removes.
        max_asset_bytes: the largest asset ``put`` accepts.
    """

    def __init__(
        self, root: Path | None = None, *, max_asset_bytes: int = DEFAULT_MAX_ASSET_BYTES
    ) -> None:
        if max_asset_bytes <= 0:
            raise ValueError(f"max_asset_bytes must be positive, got {max_asset_bytes}")
        self.max_asset_bytes = max_asset_bytes
        self._temporary = (
            tempfile.TemporaryDirectory(prefix="continuum-assets-") if root is None else None
        )
        self.root = Path(self._temporary.name) if self._temporary else Path(root)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AssetError(f"cannot create the asset folder {self.root}: {exc}") from None
        self._infos: dict[str, AssetInfo] = {}  # immutable assets, so never stale
        self._closed = False

    def __enter__(self) -> AssetStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop using the store; a temporary store's folder is removed."""
        self._closed = True
        if self._temporary is not None:
            self._temporary.cleanup()

    def __contains__(self, hash: object) -> bool:
        if not isinstance(hash, str) or not HASH_PATTERN.fullmatch(hash):
            return False
        return self._lookup(hash) is not None

    def put(
        self, data: bytes | bytearray | memoryview, *, kind: str, meta: dict[str, Any]
    ) -> AssetInfo:
        """Store ``data`` (a no-op when these octets are stored already) and describe it.

        Raises:
            AssetError: the asset is larger than ``max_asset_bytes``, ``kind`` or ``meta`` is
                malformed, or the folder cannot be written.
        """
        self._check_open()
        size = memoryview(data).nbytes
        if size > self.max_asset_bytes:
            raise AssetError(
                f"an asset of {size} octets exceeds max_asset_bytes={self.max_asset_bytes}; "
                "split it or raise the limit (ServerConfig.limits.max_asset_bytes)"
            )
        if not isinstance(kind, str) or not 0 < len(kind) <= _MAX_KIND_CHARS:
            raise AssetError(
                f"asset kind must be 1..{_MAX_KIND_CHARS} characters, got {kind!r:.80}"
            )
        try:
            description = json.dumps(
                {"bytes": size, "kind": kind, "meta": meta}, sort_keys=True, allow_nan=False
            )
        except (TypeError, ValueError) as exc:
            raise AssetError(f"asset meta must be JSON-compatible: {exc}") from None
        digest = hashlib.sha256(data).hexdigest()
        known = self._lookup(digest)
        data_path = self._data_path(digest)
        if known is not None:
            with contextlib.suppress(FileNotFoundError):  # collected meanwhile: put below
                os.utime(data_path.with_suffix(".json"))  # young again: see collect's grace
                return known
            self._infos.pop(digest, None)
        try:
            data_path.parent.mkdir(exist_ok=True)
            _write_atomically(data_path, data)
            _write_atomically(data_path.with_suffix(".json"), description.encode("utf-8"))
        except OSError as exc:
            raise AssetError(f"cannot write asset {digest} under {self.root}: {exc}") from None
        info = AssetInfo(digest, size, kind, json.loads(description)["meta"])
        self._infos[digest] = info
        return info

    def info(self, hash: str) -> AssetInfo:
        """The description of asset ``hash``.

        Raises:
            AssetError: ``hash`` is not 64 lowercase hex digits.
            AssetNotFoundError: the store does not hold it.
        """
        self._check_open()
        info = self._lookup(check_hash(hash))
        if info is None:
            raise AssetNotFoundError(f"no asset {hash} in the store at {self.root}; put it first")
        return info

    def read(self, hash: str, offset: int, size: int) -> bytes:
        """Octets ``offset .. offset + size`` of asset ``hash``.

        Raises:
            AssetError: a malformed hash, a range outside the asset, or a damaged file.
            AssetNotFoundError: the store does not hold the asset.
        """
        info = self.info(hash)
        if offset < 0 or size < 0 or offset + size > info.bytes:
            raise AssetError(
                f"range offset={offset} size={size} lies outside asset {hash} "
                f"of {info.bytes} octets"
            )
        with open(self._data_path(hash), "rb") as f:
            f.seek(offset)
            data = f.read(size)
        if len(data) != size:
            raise AssetError(
                f"the file of asset {hash} under {self.root} is shorter than its {info.bytes} "
                "octets: the store is damaged; delete both files of the asset and put it again"
            )
        return data

    def collect(self, keep: set[str], *, grace_s: float = 3600.0) -> dict[str, int]:
        """Delete every asset not in ``keep`` whose last ``put`` is older than ``grace_s``
        seconds, and leftovers of interrupted writes as old. Returns the counts ``kept`` and
        ``removed`` and the octets ``freed``.

        The caller says which assets are referenced (``continuum.world.store.collect_assets``
        counts the references of every world); the grace spares an asset that a writer has
        stored and not yet named in an event.
        """
        self._check_open()
        if grace_s < 0:
            raise ValueError(f"grace_s must be >= 0, got {grace_s}")
        cutoff = time.time() - grace_s
        kept = removed = freed = 0
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
            for path in sorted(folder.iterdir()):
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue
                if path.name.startswith(".tmp-"):
                    if stat.st_mtime < cutoff:
                        path.unlink(missing_ok=True)
                    continue
                if path.suffix != ".json" or not HASH_PATTERN.fullmatch(path.stem):
                    continue
                if path.stem in keep or stat.st_mtime >= cutoff:
                    kept += 1
                    continue
                data = path.with_suffix("")
                # The description first: without it the data file is no asset any more.
                path.unlink(missing_ok=True)
                with contextlib.suppress(FileNotFoundError):
                    freed += data.stat().st_size
                    data.unlink()
                self._infos.pop(path.stem, None)
                removed += 1
        return {"kept": kept, "removed": removed, "freed": freed}

    # -- private -----------------------------------------------------------------------------

    def _data_path(self, hash: str) -> Path:
        return self.root / hash[:2] / hash

    def _lookup(self, hash: str) -> AssetInfo | None:
        info = self._infos.get(hash)
        if info is not None:
            if self._data_path(hash).with_suffix(".json").exists():
                return info
            del self._infos[hash]  # collected meanwhile (by another store or process)
        path = self._data_path(hash)
        try:
            description = json.loads(path.with_suffix(".json").read_bytes())
            stored = path.stat().st_size
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise AssetError(f"cannot read asset {hash} under {self.root}: {exc}") from None
        if not isinstance(description, dict) or description.get("bytes") != stored:
            raise AssetError(
                f"asset {hash} under {self.root} does not match its description: the store "
                "is damaged; delete both files of the asset and put it again"
            )
        info = AssetInfo(hash, stored, str(description.get("kind")), description.get("meta", {}))
        self._infos[hash] = info
        return info

    def _check_open(self) -> None:
        if self._closed:
            raise AssetError(f"the asset store at {self.root} is closed")


def _write_atomically(path: Path, data: bytes | bytearray | memoryview) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # the rename must not land before the octets do
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
