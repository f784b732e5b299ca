import hashlib
import json
import os
import threading

import pytest

from continuum.errors import AssetError, AssetNotFoundError
from continuum.world import AssetInfo, AssetStore

DATA = bytes(range(256)) * 40


@pytest.fixture
def store(tmp_path):
    with AssetStore(tmp_path / "assets", max_asset_bytes=1 << 20) as s:
        yield s


def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_put_names_the_asset_by_its_sha256_and_reads_it_back(store):
    info = store.put(DATA, kind="blob", meta={"note": "x", "n": [1, 2]})
    digest = hashlib.sha256(DATA).hexdigest()
    assert info == AssetInfo(digest, len(DATA), "blob", {"note": "x", "n": [1, 2]})
    assert digest in store and store.info(digest) == info
    assert _files(store.root) == [f"{digest[:2]}/{digest}", f"{digest[:2]}/{digest}.json"]
    assert store.read(digest, 0, len(DATA)) == DATA
    assert store.read(digest, 1000, 24) == DATA[1000:1024]
    assert store.read(digest, len(DATA), 0) == b""


def test_the_same_octets_are_stored_once(store):
    first = store.put(DATA, kind="blob", meta={"first": True})
    again = store.put(bytearray(DATA), kind="other", meta={"first": False})
    assert again == first  # a no-op: the first description stays
    assert len(_files(store.root)) == 2


def test_a_reopened_store_knows_its_assets(tmp_path):
    with AssetStore(tmp_path) as s:
        info = s.put(DATA, kind="blob", meta={"k": 1})
    with AssetStore(tmp_path) as s:
        assert s.info(info.hash) == info
        assert s.read(info.hash, 5, 3) == DATA[5:8]


def test_empty_asset(store):
    info = store.put(b"", kind="blob", meta={})
    assert info.bytes == 0 and store.read(info.hash, 0, 0) == b""


def test_a_failed_write_leaves_no_asset_and_no_litter(store, monkeypatch):
    def failing_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(AssetError, match=r"cannot write asset .* No space left"):
        store.put(DATA, kind="blob", meta={})
    monkeypatch.undo()
    assert hashlib.sha256(DATA).hexdigest() not in store
    assert _files(store.root) == []


def test_data_without_its_description_is_no_asset_until_put_again(store):
    digest = hashlib.sha256(DATA).hexdigest()
    (store.root / digest[:2]).mkdir()
    (store.root / digest[:2] / digest).write_bytes(DATA[:100])  # a crash between the renames
    assert digest not in store
    with pytest.raises(AssetNotFoundError):
        store.info(digest)
    assert store.put(DATA, kind="blob", meta={}).bytes == len(DATA)
    assert store.read(digest, 0, len(DATA)) == DATA


@pytest.mark.parametrize(
    "bad",
    ["abc", "A" * 64, "g" * 64, "../" * 21 + "a", "0" * 65, 12, None, "0" * 63 + "\n"],
)
def test_malformed_hashes_are_refused_before_the_filesystem(store, bad):
    with pytest.raises(AssetError, match="64 lowercase hex digits") as info:
        store.info(bad)
    assert not isinstance(info.value, AssetNotFoundError)
    with pytest.raises(AssetError, match="64 lowercase hex digits"):
        store.read(bad, 0, 1)
    assert bad not in store


def test_an_unknown_hash_is_not_found_and_named(store):
    digest = "ab" * 32
    assert digest not in store
    with pytest.raises(AssetNotFoundError, match=f"no asset {digest}"):
        store.info(digest)
    with pytest.raises(AssetNotFoundError):
        store.read(digest, 0, 0)


def test_oversized_assets_are_refused(tmp_path):
    with AssetStore(tmp_path, max_asset_bytes=10) as s:
        assert s.put(b"x" * 10, kind="blob", meta={}).bytes == 10
        with pytest.raises(AssetError, match="11 octets exceeds max_asset_bytes=10"):
            s.put(b"x" * 11, kind="blob", meta={})
    with pytest.raises(ValueError, match="max_asset_bytes"):
        AssetStore(tmp_path, max_asset_bytes=0)


@pytest.mark.parametrize(("offset", "size"), [(-1, 1), (0, -1), (0, len(DATA) + 1), (10240, 1)])
def test_reads_outside_the_asset_are_refused(store, offset, size):
    info = store.put(DATA, kind="blob", meta={})
    with pytest.raises(AssetError, match="lies outside asset"):
        store.read(info.hash, offset, size)


@pytest.mark.parametrize(
    ("kind", "meta", "words"),
    [("", {}, "kind"), ("x" * 65, {}, "kind"), ("blob", {"x": {1, 2}}, "JSON-compatible")],
)
def test_bad_kind_or_meta(store, kind, meta, words):
    with pytest.raises(AssetError, match=words):
        store.put(DATA, kind=kind, meta=meta)


def test_a_damaged_store_is_reported(tmp_path):
    with AssetStore(tmp_path) as s:
        info = s.put(DATA, kind="blob", meta={})
        path = tmp_path / info.hash[:2] / info.hash
        path.write_bytes(DATA[:10])
        with pytest.raises(AssetError, match="shorter than its 10240 octets"):
            s.read(info.hash, 0, 100)  # the description is cached: the read finds the damage
    with AssetStore(tmp_path) as s, pytest.raises(AssetError, match="damaged"):
        s.info(info.hash)  # a fresh store compares the file with its description
    path.with_suffix(".json").write_text("{oops")
    with AssetStore(tmp_path) as s, pytest.raises(AssetError, match="cannot read asset"):
        s.info(info.hash)


def test_a_temporary_store_is_removed_on_close():
    store = AssetStore()
    info = store.put(DATA, kind="blob", meta={})
    root = store.root
    assert (root / info.hash[:2] / info.hash).is_file()
    store.close()
    assert not root.exists()
    with pytest.raises(AssetError, match="closed"):
        store.put(DATA, kind="blob", meta={})


def test_concurrent_puts_and_reads(store):
    blobs = [bytes([i]) * (1000 + i) for i in range(8)]
    errors = []

    def work(blob):
        try:
            for _ in range(5):
                info = store.put(blob, kind="blob", meta={"n": len(blob)})
                assert store.read(info.hash, 0, info.bytes) == blob
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(b,)) for b in blobs * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(_files(store.root)) == 2 * len(blobs)
    assert not any(".tmp-" in name for name in _files(store.root))
    described = [json.loads(p.read_text()) for p in store.root.rglob("*.json")]
    assert sorted(d["bytes"] for d in described) == sorted(len(b) for b in blobs)
