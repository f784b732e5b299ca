"""Splat editing over the bridge (PROTOCOL.md section 16): real clients against a server
serving scenes/splats (a torus of 1,536 Gaussians)."""

from __future__ import annotations

import numpy as np
import pytest

from continuum.server.client import BridgeClient, RemoteError
from continuum.splats.pack import unpack_splats
from tests.conftest import SPLATS


@pytest.fixture
def splats(server_factory):
    return server_factory(scene=SPLATS)


def _base(c: BridgeClient) -> dict:
    entities = {e["id"]: e for e in c.request("world.get").header["entities"]}
    return entities["cloud"]["components"]["splat"]


def _cloud(server, asset: str):
    info = server.assets.info(asset)
    return unpack_splats(server.assets.read(asset, 0, info.bytes))


def _select(c, base, **fields):
    header = {"entity": "cloud", "base": base, **fields}
    return c.request("splat.select", header).header


def test_select_recolor_undo_and_the_outside_is_bit_identical(splats):
    with BridgeClient(port=splats.port, timeout_s=60) as c:
        base = _base(c)["asset"]
        before = _cloud(splats, base)
        made = _select(c, base, mode="sphere", center=before.means[0].tolist(), radius=0.4)
        assert 0 < made["count"] < made["total"] == len(before)
        scores = c.request("splat.selection", {"selection": made["selection"]}).blobs[0]
        inside = scores > 0.5
        assert inside.sum() == made["count"]
        edit = c.request(
            "splat.edit",
            {
                "entity": "cloud",
                "selection": made["selection"],
                "base": base,
                "op": "recolor",
                "color": [1.0, 0.0, 0.0],
            },
        ).header
        assert edit["changed"] == made["count"] and edit["asset"]["asset"] != base
        pushes = [c.push(timeout_s=10) for _ in range(2)]
        assert [p.kind for p in pushes] == ["world.changed", "asset.announce"]
        after = _cloud(splats, edit["asset"]["asset"])
        out = ~inside
        for field in ("means", "quats", "log_scales", "opacity_logits", "sh"):
            a, b = getattr(before, field)[out], getattr(after, field)[out]
            assert np.array_equal(a.numpy().view(np.uint8), b.numpy().view(np.uint8)), field
        assert not np.array_equal(before.sh[inside].numpy(), after.sh[inside].numpy())
        # a stale edit changes nothing
        stale = {"entity": "cloud", "selection": made["selection"], "base": base, "op": "delete"}
        with pytest.raises(RemoteError, match="stale version") as info:
            c.request("splat.edit", stale)
        assert info.value.code == "conflict"
        c.request("world.undo")
        assert _base(c)["asset"] == base


def test_transform_duplicate_and_delete(splats):
    with BridgeClient(port=splats.port, timeout_s=60) as c:
        base = _base(c)["asset"]
        n = _base(c)["count"]
        made = _select(c, base, mode="box", center=[0, 0, 0], half_size=[5, 0.05, 5])
        k = made["count"]
        assert k > 0
        header = {"entity": "cloud", "selection": made["selection"], "base": base}
        dup = c.request("splat.edit", {**header, "op": "duplicate", "offset": [0, 1, 0]}).header
        assert dup["asset"]["count"] == n + k
        base2 = dup["asset"]["asset"]
        made2 = _select(c, base2, mode="box", center=[0, 1, 0], half_size=[5, 0.05, 5])
        header2 = {"entity": "cloud", "selection": made2["selection"], "base": base2}
        moved = c.request(
            "splat.edit", {**header2, "op": "transform", "rotation": [0, 0.7071068, 0, 0.7071068]}
        ).header
        gone = c.request(
            "splat.edit",
            {
                "entity": "cloud",
                "base": moved["asset"]["asset"],
                "op": "delete",
                "selection": _select(
                    c, moved["asset"]["asset"], mode="box", center=[0, 1, 0], half_size=[5, 0.05, 5]
                )["selection"],
            },
        ).header
        assert gone["asset"]["count"] == n


def test_masks_and_the_ray_brush(splats):
    with BridgeClient(port=splats.port, timeout_s=60) as c:
        base = _base(c)["asset"]
        camera = {
            "fx": 40.0,
            "fy": 40.0,
            "cx": 32.0,
            "cy": 32.0,
            "width": 64,
            "height": 64,
            "world_to_camera": [1, 0, 0, 0, 0, -1, 0, 0, 0, 0, -1, 4, 0, 0, 0, 1],
        }
        mask = np.zeros((64, 64), np.uint8)
        mask[:, :32] = 1
        made = c.request(
            "splat.select",
            {
                "entity": "cloud",
                "base": base,
                "mode": "masks",
                "views": [{"camera": camera}],
                "labels": True,
            },
            [mask],
        )
        assert 0 < made.header["count"] < made.header["total"]
        assert made.blobs[0].shape == (made.header["total"],)
        ray = _select(c, base, mode="ray", origin=[0, 0, 4], direction=[0, 0, -1], radius=0.3)
        assert ray["count"] >= 0
        for header, blobs, words in [
            (
                {"mode": "masks", "views": [{"camera": camera}]},
                [np.zeros((8, 8), np.uint8)],
                "shape",
            ),
            ({"mode": "masks", "views": [{"camera": camera}]}, [], "1 views but 0 mask"),
            ({"mode": "sphere", "center": [9, 9, 9], "radius": 0.1}, [], None),
            ({"mode": "cube"}, [], "mode"),
        ]:
            full = {"entity": "cloud", "base": base, **header}
            if words is None:  # an empty selection is made, but cannot be edited
                empty = c.request("splat.select", full).header
                assert empty["count"] == 0
                with pytest.raises(RemoteError, match="the selection is empty"):
                    c.request(
                        "splat.edit",
                        {
                            "entity": "cloud",
                            "base": base,
                            "selection": empty["selection"],
                            "op": "delete",
                        },
                    )
                continue
            with pytest.raises(RemoteError, match=words) as info:
                c.request("splat.select", full, blobs)
            assert info.value.code == "bad_request"
        with pytest.raises(RemoteError) as info:
            c.request("splat.select", {"entity": "ghost", "base": base, "mode": "sphere"})
        assert info.value.code == "not_found"
