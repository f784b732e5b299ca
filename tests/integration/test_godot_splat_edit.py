"""Splat editing (PROTOCOL.md section 16) between a real headless Godot and a real in-process
backend serving scenes/splats: selections made in world coordinates by the plugin's
ContinuumSplatEditor (sphere, box, ray brush, masks through a Camera3D), a recolour that the
engine swaps in, a stale edit refused, undo, and a short fit to a target image with its
progress.

Godot runs ``engine_plugin/godot/tests/integration/splat_edit_probe.gd`` (a ContinuumSession,
a ContinuumWorld and a ContinuumSplatEditor); the tests check what it reports against the
backend's state and the packs it holds.
"""

from __future__ import annotations

import pytest
import torch

from continuum.server.app import ServerConfig, serve_in_thread
from continuum.splats.pack import unpack_splats
from continuum.world import load_scene
from tests.conftest import REPO
from tests.integration.conftest import run_probe

pytestmark = pytest.mark.godot
SPLATS = REPO / "scenes" / "splats"
PROBE = "res://tests/integration/splat_edit_probe.gd"
SH_C0 = 0.28209479177387814


def _cloud(server, asset: str):
    info = server.assets.info(asset)
    return unpack_splats(server.assets.read(asset, 0, info.bytes))


def test_select_edit_stale_undo_and_fit_from_godot():
    with serve_in_thread(ServerConfig(port=0), load_scene(SPLATS)) as server:
        original = server.world.splat("cloud").hash
        code, r, out = run_probe(PROBE, server.port, "edit", timeout_s=240)
        assert code == 0 and r["ok"], out[-3000:]
        assert r["errors"] == [], r["errors"]
        assert r["old_hash"] == original
        total = r["total"]
        assert total == 1536 and r["sh_degree"] == 1

        # 1. Selections in world coordinates land where the plugin's cloud has the splats (its
        # half-precision means may put a splat on the other side of a boundary: a few at most).
        sphere, box, ray = r["sphere"], r["box"], r["ray"]
        assert sphere["total"] == total and 0 < sphere["count"] < total, sphere
        assert abs(sphere["count"] - r["sphere_expected"]) <= 3, (sphere, r["sphere_expected"])
        assert 0 < box["count"] < total and abs(box["count"] - r["box_expected"]) <= 3, (
            box,
            r["box_expected"],
        )
        assert 0 < ray["count"] < 60, ray  # a 5 cm brush where the ray meets the ring
        assert r["ray_nearest_to_aim"] < 0.06, r["ray_nearest_to_aim"]

        # 2. Masks through the Camera3D: what is selected projects on the mask's side (Godot's
        # camera, converted to the backend's, sees what Camera3D.unproject_position says).
        for side, m in r["masks"].items():
            picked = m["reply"]
            assert "error" not in picked, (side, picked)
            assert picked["count"] >= 50, (side, m)
            assert m["selected_on_side"] >= 0.95 * picked["count"], (side, m)
            assert m["selected_on_side"] >= 0.9 * m["projected_on_side"], (side, m)

        # 3. The recolour: a new pack the engine swapped to; only the selection changed.
        selected = r["selected"]
        made = r["recolor"]
        assert "error" not in made, made
        assert made["asset"] == r["new_hash"] != original and made["changed"] == len(selected)
        assert made["splat"]["asset"] == made["asset"]
        assert ["edit_applied", "cloud", made["asset"]] in r["signals"]
        assert ["splat_updated", "cloud", made["asset"]] in r["signals"] and r["shown"]
        diff = r["diff"]
        assert diff["other_color"] == 0 and diff["other_sh"] == 0 and diff["other_mean"] == 0
        assert diff["selected_color"] == len(selected) and diff["selected_mean"] == 0
        assert diff["selected_sh_zero"] == len(selected)  # view-dependent colour cleared
        for rgb in diff["selected_colors"]:
            assert rgb == pytest.approx([1.0, 0.0, 0.0], abs=2e-3), rgb
        before, after = _cloud(server, original), _cloud(server, made["asset"])
        index = torch.tensor(selected)
        keep = torch.ones(total, dtype=torch.bool)
        keep[index] = False
        assert torch.equal(after.sh[keep], before.sh[keep])
        assert torch.equal(after.means, before.means)
        red = (torch.tensor([1.0, 0.0, 0.0]) - 0.5) / SH_C0
        assert torch.allclose(after.sh[index, 0], red.expand(len(selected), 3), atol=1e-5)
        assert torch.all(after.sh[index, 1:] == 0)

        # 4. The same selection again is of the version before: conflict, nothing changes.
        assert r["stale"]["error"] == "conflict", r["stale"]
        assert ["edit_failed", "conflict", r["stale"]["message"]] in r["signals"]

        # 5. Undo: the backend and the engine show the original again, octet for octet.
        assert r["undo"]["kind"] == "world.undo", r["undo"]
        assert r["back"] and r["same_again"]
        assert ["splat_updated", "cloud", original] in r["signals"]
        assert server.world.splat("cloud").hash == r["optimize"]["asset"]  # the fit came after

        # 6. The fit: a version where only the selection moved; the backend pushed its progress
        # (at most 20 a second, and the last step) while the edit ran.
        fitted = r["optimize"]
        assert "error" not in fitted, fitted
        refit = r["refit"]
        assert "error" not in refit and refit["count"] == sphere["count"], refit
        after = _cloud(server, fitted["asset"])
        assert torch.equal(after.sh[keep], before.sh[keep])
        assert torch.equal(after.means[keep], before.means[keep])
        assert not torch.equal(after.sh[index], before.sh[index])
        pushed = [s[1:] for s in r["signals"] if s[0] == "splat.progress"]
        steps = [int(s[0]) for s in pushed]
        assert pushed and steps == sorted(steps) and pushed[-1] == [20, 20], pushed
        # ... and before the edit's reply, so the editor signals it while the edit runs
        progress = [s[1:] for s in r["signals"] if s[0] == "edit_progressed"]
        assert progress and progress[-1] == [20, 20], progress
