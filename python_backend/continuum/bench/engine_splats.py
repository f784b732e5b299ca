"""``continuum bench engine-splats``: splats as Godot assets, from file or backend to screen.

- ``import_s_1m``: the importer's work on a 1M-splat 3DGS PLY at SH degree 3 (read, decode,
  SplatCloud, images), the median of 3 runs in a headless Godot (tests/bench/import_bench.gd).
- ``sync_s_1m``: a 1M-splat cloud (SH degree 0) on a running backend to a Godot that has not seen
  it: from the world's entities arriving to the SplatInstance3D drawing the new version (transfer
  with credit, chunk and asset sha256, cache write, decode, textures, first depth sort).
- ``sort_ms_100k``, ``sort_ms_1m``: the depth sort on a worker thread, median of 5 directions.
- ``gpu_bytes_per_splat``: texture octets per splat at SH degree 0, the draw order included, for
  the 100k cloud of ``frame_ms_100k_software``.
- ``frame_ms_100k_software``: the mean frame time of 100k splats (SH degree 0) at 512x512 in the
  Compatibility renderer on Mesa llvmpipe (software: reported, not a target).
- ``psnr_vs_backend_db``: Godot's frame against the backend's render of the same 4,000-splat
  SH degree 3 scene from the same camera; ``psnr_vs_backend_db_forward_plus`` the same through
  Forward+ on lavapipe, which blends in linear light (the backend blends display values).
"""

from __future__ import annotations

import platform
import tempfile
from pathlib import Path

from continuum.errors import ContinuumError
from continuum.godot import REPO_ROOT, import_project, run_godot
from continuum.godot_render import render_in_godot
from continuum.server.app import ServerConfig, serve_in_thread
from continuum.splats.cloud import SplatCloud
from continuum.splats.fit import psnr
from continuum.splats.formats import write_splats
from continuum.splats.pack import pack_splats, unpack_splats
from continuum.splats.render import make_benchmark_scene, render_splats
from continuum.world.scene import load_scene

SYNC_SCENE = REPO_ROOT / "scenes" / "splats"
SYNC_ENTITY = "cloud"
PROBE = "res://tests/integration/asset_probe.gd"


def bench_engine_splats(
    *, million: int = 1_000_000, frame_splats: int = 100_000, frames: int = 30
) -> dict:
    """All figures above, in one JSON-ready dict. ``million``, ``frame_splats`` and ``frames``
    shrink the work for tests; the keys keep their names."""
    imported = import_project()
    if imported.returncode != 0:
        raise ContinuumError(f"Godot could not import the project:\n{imported.output[-2000:]}")
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="continuum-bench-engine-") as tmp:
        figures["import_s_1m"] = _import_seconds(Path(tmp), million)
        figures["sync_s_1m"] = _sync_seconds(Path(tmp), million)
    figures.update(_sort_ms(million))

    cloud, camera = make_benchmark_scene(frame_splats, 512, seed=1)
    frame = render_in_godot(_degree_zero(cloud), camera, frames=frames)
    figures["gpu_bytes_per_splat"] = round(frame.info["gpu_bytes_per_splat"], 2)
    figures["frame_ms_100k_software"] = round(frame.info["frame_ms"], 1)

    cloud, camera = make_benchmark_scene(4000, 256, seed=2)
    cloud = unpack_splats(pack_splats(cloud))  # what Godot receives: halves
    expected = render_splats(cloud, camera, backend="cpu").rgb.clamp(0.0, 1.0)
    for method, key in (("gl_compatibility", ""), ("forward_plus", "_forward_plus")):
        got = render_in_godot(cloud, camera, rendering_method=method).image
        figures[f"psnr_vs_backend_db{key}"] = round(psnr(got, expected), 2)
    figures.update(
        splats_1m=million,
        splats_frame=frame_splats,
        renderer=frame.info["renderer"],
        machine=platform.machine(),
    )
    return figures


def _degree_zero(cloud: SplatCloud) -> SplatCloud:
    return SplatCloud(
        cloud.means,
        cloud.quats,
        cloud.log_scales,
        cloud.opacity_logits,
        cloud.sh[:, :1].contiguous(),
    )


def _import_seconds(tmp: Path, n: int) -> float:
    cloud, _ = make_benchmark_scene(n, 512, seed=3)
    path = tmp / "cloud.ply"
    write_splats(cloud, path)
    run = run_godot(
        ["--script", "res://tests/bench/import_bench.gd"],
        user_args=[f"--file={path}", "--repeat=3"],
        timeout_s=600,
    )
    path.unlink()
    return round(_result(run.results("CONTINUUM_RESULT"), run.output)["import_s"], 3)


def _sync_seconds(tmp: Path, n: int) -> float:
    cloud, _ = make_benchmark_scene(n, 512, seed=4)
    config = ServerConfig(port=0, asset_dir=tmp / "assets")
    with serve_in_thread(config, load_scene(SYNC_SCENE)) as server:
        server.world.set_splat(SYNC_ENTITY, _degree_zero(cloud))
        run = run_godot(
            ["--script", PROBE],
            user_args=[
                f"--continuum-port={server.port}",
                "--scenario=sync",
                f"--cache={tmp / 'cache'}",
                "--timeout=300",
            ],
            timeout_s=400,
        )
    events = [e for e in run.results("CONTINUUM_RESULT") if "event" in e]
    world = next((e["t"] for e in events if e["event"] == "world"), None)
    shown = [e for e in events if e["event"] == "shown" and not e["from_cache"]]
    if world is None or not shown:
        raise ContinuumError(
            f"the sync probe showed nothing (exit {run.returncode}):\n{run.output[-3000:]}"
        )
    return round(shown[-1]["t"] - world, 3)


def _sort_ms(n: int) -> dict:
    run = run_godot(
        ["--script", "res://tests/bench/sort_bench.gd"],
        user_args=[f"--counts=100000,{n}", "--repeat=5"],
        timeout_s=600,
    )
    result = _result(run.results("CONTINUUM_RESULT"), run.output)
    return {"sort_ms_100k": result["sort_ms_100000"], "sort_ms_1m": result[f"sort_ms_{n}"]}


def _result(results: list[dict], output: str) -> dict:
    if not results or "error" in results[-1]:
        raise ContinuumError(f"a Godot benchmark script failed:\n{output[-3000:]}")
    return results[-1]
