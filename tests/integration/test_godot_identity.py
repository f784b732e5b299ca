"""Identity and memory (PROTOCOL.md section 15) between a real headless Godot and a real
in-process backend: appearance banks from real photographs (skimage's), re-identification and
drift with the push, reference images fetched as assets and decoded, a face bank (dlib) and an
image without a face, and the memory's add, query and summarize.

Godot runs ``engine_plugin/godot/tests/integration/identity_probe.gd`` (a ContinuumSession with
a ContinuumIdentity and a ContinuumMemory), loading the PNG files written here; the tests check
what it reports against the backend's state.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

from continuum.identity.registry import DEFAULT_CONFIGS
from continuum.server.app import ServerConfig, serve_in_thread
from tests.integration.conftest import run_probe

pytestmark = pytest.mark.godot
PROBE = "res://tests/integration/identity_probe.gd"
APPEARANCE_THRESHOLD = DEFAULT_CONFIGS["appearance"].drift_threshold
FACE_THRESHOLD = DEFAULT_CONFIGS["face"].drift_threshold
REFERENCE_SIDE = 256  # the longer side of a stored reference image (identity_service)


@pytest.fixture
def server():
    with serve_in_thread(ServerConfig(port=0)) as srv:
        yield srv


def _png(folder: Path, name: str, image: np.ndarray) -> str:
    path = folder / f"{name}.png"
    Image.fromarray(np.ascontiguousarray(image[..., :3])).save(path)
    return str(path)


def _probe(port: int, scenario: str, *extra: str) -> dict:
    code, result, out = run_probe(PROBE, port, scenario, *extra, timeout_s=180)
    assert code == 0 and result["ok"], out[-3000:]
    assert result["errors"] == [], result["errors"]
    return result


def _thumbnail_size(image: np.ndarray) -> list[int]:
    """[width, height] of ``image`` as the backend stores its reference."""
    height, width = image.shape[:2]
    scale = min(1.0, REFERENCE_SIDE / max(height, width))
    return [max(1, round(width * scale)), max(1, round(height * scale))]


def test_appearance_banks_recognise_drift_and_give_their_references(server, tmp_path):
    cat, other = skimage.data.chelsea(), skimage.data.coffee()
    far = skimage.data.rocket()  # coffee is too close to the cat (drift ~0.2) to alert
    r = _probe(
        server.port,
        "appearance",
        f"--cat={_png(tmp_path, 'chelsea', cat)}",
        f"--other={_png(tmp_path, 'coffee', other)}",
        f"--far={_png(tmp_path, 'rocket', far)}",
    )
    # 1. Two banks, from the PNG files.
    for reply, entity in zip(r["registered"], ["cat", "other"], strict=True):
        assert reply["kind"] == "identity.register", reply
        bank = reply["header"]["bank"]
        assert bank["entity"] == entity and bank["kind"] == "appearance" and bank["slots"] == 1
    # 2. The brightened cat is the cat, a small drift; its bank learns it.
    seen = r["seen"]["header"]
    assert seen["matches"][0]["entity"] == "cat", seen
    assert seen["entity"] == "cat" and seen["drift"] < APPEARANCE_THRESHOLD, seen
    assert seen["action"] in ("inserted", "merged"), seen
    anonymous = r["anonymous"]["header"]
    assert anonymous["entity"] == "cat" and anonymous["action"] is None, anonymous
    assert anonymous["drift"] < APPEARANCE_THRESHOLD  # against the recognised bank
    # 3. The rocket said to be the cat drifts past the threshold: the push, as a signal.
    far_seen = r["far"]["header"]
    assert far_seen["drift"] > APPEARANCE_THRESHOLD, far_seen
    assert len(r["drifts"]) == 1, r["drifts"]
    entity, drift, threshold = r["drifts"][0]
    assert entity == "cat" and threshold == pytest.approx(APPEARANCE_THRESHOLD)
    assert drift == pytest.approx(far_seen["drift"], abs=1e-5)
    # 4. References, fetched as images of the size the asset says, pixel for pixel.
    references = r["queried"]["header"]["references"]
    # the registered image; the brightened one was inserted provisional (not yet seen again), so
    # it does not count yet
    assert len(references) == 1, references
    assert len(r["ranked"]["header"]["references"]) == 1
    for reference, fetched in zip(references, r["fetched"], strict=True):
        assert fetched["error"] is None and fetched["rgb8"], fetched
        info = server.assets.info(reference["asset"])
        assert info.kind == "image-rgb8"
        assert fetched["size"] == [info.meta["width"], info.meta["height"]] == _thumbnail_size(cat)
        assert fetched["sha256"] == reference["asset"]  # the asset's octets are the pixels
    assert r["again_size"] == r["fetched"][0]["size"]
    assert r["asset_stats"]["from_cache"] == 1 and r["asset_stats"]["fetched"] == 1
    # 5. Listed, removed, then unknown.
    assert sorted(b["entity"] for b in r["listed"]["header"]["banks"]) == ["cat", "other"]
    assert r["removed"]["header"]["entity"] == "other" and r["banks_known"] == ["cat"]
    assert r["gone_query"]["code"] == "not_found", r["gone_query"]
    assert r["gone_observe"]["code"] == "not_found", r["gone_observe"]
    assert r["headless"] and r["camera"]["code"] == "no_image", r["camera"]


def test_a_face_bank_and_an_image_without_a_face(server, tmp_path):
    face, no_face = skimage.data.astronaut(), skimage.data.coffee()
    r = _probe(
        server.port,
        "face",
        f"--face={_png(tmp_path, 'astronaut', face)}",
        f"--no-face={_png(tmp_path, 'coffee', no_face)}",
    )
    bank = r["registered"]["header"]["bank"]
    assert bank["entity"] == "face" and bank["kind"] == "face" and bank["dim"] == 128, bank
    seen = r["seen"]["header"]
    assert seen["entity"] == "face" and seen["drift"] < FACE_THRESHOLD, seen
    x0, y0, x1, y1 = seen["face"]["box"]
    assert 0 <= x0 < x1 <= face.shape[1] and 0 <= y0 < y1 <= face.shape[0], seen["face"]
    assert len(seen["face"]["landmarks"]) == 68
    assert all(
        x0 - 20 <= x <= x1 + 20 and y0 - 20 <= y <= y1 + 20 for x, y in seen["face"]["landmarks"]
    ), "the landmarks lie on the face"
    assert r["refused"]["code"] == "no_face", r["refused"]
    assert r["unseen"]["code"] == "no_face", r["unseen"]
    assert r["banks_known"] == ["face"]


def test_a_face_from_a_photo_becomes_an_entity_with_its_splats_and_identity(server, tmp_path):
    face, no_face = skimage.data.astronaut(), skimage.data.coffee()
    r = _probe(
        server.port,
        "face_splat",
        f"--face={_png(tmp_path, 'astronaut', face)}",
        f"--no-face={_png(tmp_path, 'coffee', no_face)}",
        "--steps=10",
    )
    made = r["made"]["header"]
    assert r["made"]["kind"] == "face.reconstruct", r["made"]
    assert made["entity"] == "visitor" and made["faces"] == 1 and made["gaussians"] > 1000, made
    assert made["bank"]["entity"] == "visitor" and made["bank"]["kind"] == "face", made
    # The world the engine mirrors shows the entity where it was asked, with the backend's pack.
    entity = server.world.state().entities["visitor"]
    assert entity["name"] == "Visitor"
    assert entity["transform"]["position"] == pytest.approx([0.0, 1.6, -2.0])  # float32 in Godot
    assert r["node_position"] == pytest.approx([0.0, 1.6, -2.0])
    assert r["splat_hash"] == made["asset"]["asset"] == entity["components"]["splat"]["asset"]
    assert r["splat_count"] == made["gaussians"] == made["asset"]["count"]
    # The refinement's progress reached the engine, ending with its last step.
    steps = [p for p in r["progress"] if p[0] == "visitor"]
    assert steps and steps[-1][1] == steps[-1][2] == 10, r["progress"]
    # The identity bank holds the photo's face: the same photo is recognised as "visitor".
    assert server.identities.bank("visitor").describe()["slots"] == 1
    assert r["again"]["code"] == "conflict", r["again"]
    assert r["refused"]["code"] == "no_face", r["refused"]
    assert "visitor" in r["banks_known"]


def test_memory_add_query_and_summarize(server):
    r = _probe(server.port, "memory")
    added = [a["header"]["record"] for a in r["added"]]
    assert [a["who"] for a in added] == ["guard", "merchant", "guard"]
    assert added[0]["where"] == [1, 0, 2] and added[2]["where"] is None
    assert added[0]["importance"] == pytest.approx(0.8) and added[2]["importance"] == 0.5
    assert r["by_text"][0][2] == "The bridge to the castle is closed at night.", r["by_text"]
    assert [hit[0] for hit in r["near"]] == ["merchant"], r["near"]
    assert r["near_position"] == [40, 0, -3]  # back as a Vector3
    assert sorted(hit[1] for hit in r["by_who"]) == ["said", "touched"]
    assert r["future"] == []
    assert r["refused"]["code"] == "bad_request" and "colour" in r["refused"]["header"]["message"]
    folded = r["folded"]["header"]
    assert folded["summarized"] == 2, folded  # the guard's two; the merchant's one stays
    assert len(folded["summaries"]) == 1 and folded["summaries"][0]["summary"] is True
    assert folded["summaries"][0]["who"] == "guard"
    assert sorted((hit[0], hit[3]) for hit in r["after"]) == [
        ("guard", True),
        ("merchant", False),
    ], r["after"]
