"""Identity and memory over the bridge (PROTOCOL.md section 15): real clients against in-process
servers with the real embedders; banks and records persisted in a real world store."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from continuum.generation import ModelSpec
from continuum.server.app import ServerConfig, serve_in_thread
from continuum.server.client import BridgeClient, RemoteError
from continuum.world import StoreConfig, WorldStore

CAT = skimage.data.chelsea()
COFFEE = skimage.data.coffee()
ROCKET = skimage.data.rocket()
FACE = skimage.data.astronaut()


@pytest.fixture(scope="module")
def server():
    with serve_in_thread(ServerConfig(port=0)) as s:
        yield s


def _client(server) -> BridgeClient:
    return BridgeClient(port=server.port, timeout_s=60)


def _error(c: BridgeClient, kind: str, header: dict, blobs=()) -> RemoteError:
    with pytest.raises(RemoteError) as info:
        c.request(kind, header, list(blobs))
    return info.value


def test_appearance_banks_recognise_update_and_alert(server):
    with _client(server) as c, _client(server) as watcher:
        bank = c.request(
            "identity.register", {"entity": "cat", "kind": "appearance"}, [CAT]
        ).header["bank"]
        assert (bank["entity"], bank["kind"], bank["slots"], bank["dim"]) == (
            "cat",
            "appearance",
            1,
            256,
        )
        c.request("identity.register", {"entity": "coffee", "kind": "appearance"}, [COFFEE])
        brighter = np.clip(CAT.astype(int) + 25, 0, 255).astype(np.uint8)
        seen = c.request("identity.observe", {"kind": "appearance"}, [brighter]).header
        assert seen["matches"][0]["entity"] == "cat" and seen["entity"] == "cat"
        assert seen["drift"] < 0.12 and seen["action"] in ("merged", "inserted", "skipped")
        far = c.request(
            "identity.observe", {"kind": "appearance", "entity": "cat", "update": False}, [ROCKET]
        ).header
        assert far["entity"] == "cat" and far["drift"] > 0.12 and far["action"] is None
        alert = watcher.push(timeout_s=10)
        assert alert.kind == "identity.drift" and alert.header["entity"] == "cat"
        assert alert.header["drift"] == pytest.approx(far["drift"], abs=1e-5)
        assert alert.header["similarity"] == pytest.approx(1 - far["drift"], abs=0.2)
        nobody = c.request("identity.observe", {"kind": "appearance"}, [ROCKET]).header
        assert nobody["entity"] is None and nobody["drift"] is None


def test_references_are_assets_and_rank_against_an_image(server):
    with _client(server) as c:
        c.request("identity.register", {"entity": "mug", "kind": "appearance"}, [COFFEE, CAT])
        refs = c.request("identity.query", {"entity": "mug", "k": 2}).header["references"]
        assert len(refs) == 2 and all(r["asset"] for r in refs)
        info = server.assets.info(refs[0]["asset"])
        assert info.kind == "image-rgb8" and max(info.meta["width"], info.meta["height"]) <= 256
        ranked = c.request(
            "identity.query", {"entity": "mug", "k": 1, "kind": "appearance"}, [CAT]
        ).header["references"]
        assert ranked[0]["similarity"] > 0.99 and ranked[0]["slot"] == 1


def test_face_banks_give_the_face_and_refuse_faceless_images(server):
    with _client(server) as c:
        bank = c.request("identity.register", {"entity": "eileen", "kind": "face"}, [FACE])
        assert bank.header["bank"]["dim"] == 128
        seen = c.request("identity.observe", {"kind": "face"}, [FACE[:, ::-1].copy()]).header
        assert seen["entity"] == "eileen" and len(seen["face"]["landmarks"]) == 68
        x0, y0, x1, y1 = seen["face"]["box"]
        assert 0 <= x0 < x1 <= 512 and 0 <= y0 < y1 <= 512
        for kind in ("identity.register", "identity.observe"):
            error = _error(c, kind, {"entity": "x", "kind": "face"}, [COFFEE])
            assert error.code == "no_face" and "no face found" in str(error)


@pytest.mark.parametrize(
    ("kind", "header", "blobs", "code", "words"),
    [
        ("identity.register", {"entity": "x", "kind": "smell"}, [CAT], "bad_request", "kind"),
        ("identity.register", {"entity": "", "kind": "face"}, [CAT], "bad_request", "entity"),
        ("identity.register", {"entity": "x", "kind": "face"}, [], "bad_request", "1..16"),
        (
            "identity.register",
            {"entity": "x", "kind": "appearance"},
            [np.zeros((4, 4, 3), np.uint8)],
            "bad_request",
            "8..4096",
        ),
        (
            "identity.register",
            {"entity": "x", "kind": "appearance"},
            [np.zeros((16, 16, 2), np.uint8)],
            "bad_request",
            "shape",
        ),
        ("identity.observe", {"kind": "appearance", "entity": "ghost"}, [CAT], "not_found", ""),
        ("identity.query", {"entity": "ghost"}, [], "not_found", "register it first"),
        ("identity.query", {"entity": "cat", "k": 0}, [], "bad_request", "k"),
        ("identity.remove", {"entity": "ghost"}, [], "not_found", "ghost"),
        ("memory.add", {"who": "a", "what": "said", "text": ""}, [], "bad_request", "text"),
        ("memory.query", {"k": 0}, [], "bad_request", "k"),
        ("memory.query", {"colour": "red"}, [], "bad_request", "unknown fields"),
        ("memory.summarize", {"older_than_s": "old"}, [], "bad_request", "older_than_s"),
    ],
)
def test_bad_requests_are_named_and_the_server_goes_on(server, kind, header, blobs, code, words):
    with _client(server) as c:
        error = _error(c, kind, header, blobs)
        assert error.code == code and words in str(error)
        assert c.request("ping").kind == "pong"


def test_banks_and_memory_persist_through_the_world(tmp_path):
    config = ServerConfig(port=0, worlds_dir=tmp_path, world="w")
    with serve_in_thread(config) as s, _client(s) as c:
        c.request("identity.register", {"entity": "cat", "kind": "appearance"}, [CAT])
        c.request("identity.observe", {"kind": "appearance", "entity": "cat"}, [COFFEE])
        c.request("identity.register", {"entity": "gone", "kind": "appearance"}, [ROCKET])
        c.request("identity.remove", {"entity": "gone"})
        key = c.request(
            "memory.add",
            {"who": "player", "what": "said", "text": "I hid the brass key under the blue vase"},
        ).header["record"]
        c.request(
            "memory.add",
            {"who": "guard", "what": "said", "text": "Nice weather today", "where": [1, 0, 2]},
        )
        banks = c.request("identity.list").header["banks"]
    with WorldStore.open(tmp_path, "w", read_only=True) as store:
        state = store.state()
        assert set(state.identities) == {"cat"} and state.identities["cat"]["updates"] == 1
        assert state.memory[0]["id"] == key["id"]
    with serve_in_thread(config) as s, _client(s) as c:  # the same banks and records again
        assert c.request("identity.list").header["banks"] == banks
        found = c.request("memory.query", {"text": "where did I put the key?", "k": 1}).header
        assert found["records"][0]["record"]["id"] == key["id"]
        near = c.request("memory.query", {"near": [1, 0, 2.5], "radius": 1}).header["records"]
        assert [r["record"]["who"] for r in near] == ["guard"]
        folded = c.request("memory.summarize", {"older_than_s": 0, "group_by": "what"}).header
        assert folded["summarized"] == 2 and folded["summaries"][0]["summary"] is True


def test_a_full_store_changes_no_bank(tmp_path):
    config = ServerConfig(port=0, worlds_dir=tmp_path, world="w", store=StoreConfig(max_pages=40))
    with serve_in_thread(config) as s, _client(s) as c:
        c.request("identity.register", {"entity": "cat", "kind": "appearance"}, [CAT])
        before = c.request("identity.list").header["banks"]
        codes = set()
        for image in (COFFEE, ROCKET, FACE, COFFEE[::-1].copy(), ROCKET[::-1].copy()) * 4:
            try:
                c.request("identity.observe", {"kind": "appearance", "entity": "cat"}, [image])
            except RemoteError as exc:
                codes.add(exc.code)
                break
        assert codes == {"store_failed"}
        after = c.request("identity.list").header["banks"]
        assert after[0]["updates"] >= before[0]["updates"]
        stored = s.world.state().identities["cat"]["updates"]
        assert after[0]["updates"] == stored  # the registry holds what the world does


def test_generation_takes_an_identitys_reference(server, tmp_path):
    with _client(server) as c:
        c.request("identity.register", {"entity": "red", "kind": "appearance"}, [CAT])
        params = {"prompt": "a blue sky", "width": 32, "height": 32, "steps": 2, "strength": 0.1}
        job = c.request(
            "gen.submit", {"slot": "text_to_image", "params": params, "identity": "red"}
        ).header["job"]
        while (done := c.push(timeout_s=20)).kind != "gen.done" or done.header["job"] != job:
            pass
        ref = c.request("identity.query", {"entity": "red", "k": 1}).header["references"][0]
        assert done.header["reference"] == ref["asset"]
        error = _error(
            c,
            "gen.submit",
            {"slot": "image_edit", "params": {"instruction": "invert"}, "identity": "nobody"},
        )
        assert error.code == "not_found"


def test_generation_from_a_reference_with_a_diffusers_model(text_to_image_folder):
    with serve_in_thread(ServerConfig(port=0)) as s, BridgeClient(port=s.port, timeout_s=120) as c:
        s.generation.bind("text_to_image", ModelSpec(text_to_image_folder))
        assert s.generation.wait_bound("text_to_image").state == "ready"
        c.request("identity.register", {"entity": "cat", "kind": "appearance"}, [CAT])
        params = {"prompt": "a cat", "width": 32, "height": 32, "steps": 4, "strength": 0.5}
        job = c.request(
            "gen.submit", {"slot": "text_to_image", "params": params, "identity": "cat"}
        ).header["job"]
        steps = []
        while True:
            push = c.push(timeout_s=60)
            if push.header.get("job") != job:
                continue
            if push.kind == "gen.progress":
                steps.append(push.header["steps"])
            else:
                break
        assert push.kind == "gen.done" and push.blobs[0].shape == (32, 32, 3)
        assert push.header["model"]["pipeline"] == "StableDiffusionPipeline"
        assert set(steps) == {2}  # image to image: strength 0.5 of 4 steps
