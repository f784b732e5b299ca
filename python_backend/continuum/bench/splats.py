"""``continuum bench splats``: CPU renderer speed and memory, and fitting quality, in one run.

Renderer figures use ``make_benchmark_scene`` (N Gaussians uniform in a box before the camera,
SH degree 3, opacities uniform in (0.1, 0.9), mean 3-sigma screen radius about 2% of the width):
the median of ``REPEATS`` warm runs (3 for the slow torch fwd+bwd), after one untimed run so
numba's compilation (or loading its cache) is excluded. Forward runs under ``torch.no_grad``;
forward+backward back-propagates a fixed random weighting of the image into every cloud tensor.
``torch_ref_*`` is the plain vectorised PyTorch tile renderer (backend "torch"), the baseline
of the numba one ("cpu").

Peak memory: a child process compiles the kernels on a small scene, builds the 100k scene,
resets the kernel's peak-RSS mark (writing 5 to /proc/self/clear_refs), runs one fwd+bwd and
reports VmHWM - VmRSS from /proc/self/status: the RSS growth that one fwd+bwd of 100k Gaussians
at 512x512 needs from a fresh allocator, as the kernel sees it (numba and torch alike; the scene
tensors and the compiled kernels are not counted).

Fitting: a synthetic mesh scene (a textured cube, a vertex-coloured sphere and a face-coloured
slab) covered by ``mesh_to_splats`` (about 45k Gaussians) and rendered at 96x96 from 24 cameras
on two rings around it, by the "cpu" renderer (the float64 "reference" one, which the renderer
tests compare it with, would need gigabytes per view at this size). ``fit_splats`` trains on 20
views for ``FIT_STEPS`` steps from 5,000 random Gaussians, at most 30,000, SH degree 1, with
the reference schedule scaled to the budget; ``fit_psnr_db`` is the mean PSNR of the 4 held-out
views and ``fit_seconds`` the optimisation's wall time.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np
import torch
import trimesh
from PIL import Image

from continuum.errors import ContinuumError
from continuum.splats.camera import Camera
from continuum.splats.cloud import SplatCloud
from continuum.splats.fit import FitConfig, fit_splats, psnr
from continuum.splats.mesh import mesh_to_splats
from continuum.splats.render import make_benchmark_scene, render_splats

REPEATS = 5
FIT_WIDTH = 96
FIT_STEPS = 1000
FIT_VIEWS = 24
HELD_OUT = (0, 6, 12, 18)  # every sixth camera; the other 20 train


def bench_splats() -> dict:
    """Figures: ``cpu_fwd_ms_100k_512``, ``cpu_fwdbwd_ms_100k_512``, ``cpu_fwd_ms_10k_256``,
    ``cpu_peak_mb_100k_512``, ``torch_ref_fwd_ms_100k_512``, ``torch_ref_fwdbwd_ms_100k_512``,
    ``fit_psnr_db``, ``fit_seconds`` and what they were measured with."""
    figures: dict[str, object] = {}
    _log("cpu renderer, 10k Gaussians at 256x256")
    figures["cpu_fwd_ms_10k_256"] = _median_ms(_forward(10_000, 256, "cpu"))
    _log("cpu renderer, 100k Gaussians at 512x512")
    figures["cpu_fwd_ms_100k_512"] = _median_ms(_forward(100_000, 512, "cpu"))
    figures["cpu_fwdbwd_ms_100k_512"] = _median_ms(_forward_backward(100_000, 512, "cpu"))
    figures["cpu_peak_mb_100k_512"] = _peak_memory_mb(100_000, 512)
    _log("torch renderer, 100k Gaussians at 512x512")
    figures["torch_ref_fwd_ms_100k_512"] = _median_ms(_forward(100_000, 512, "torch"))
    figures["torch_ref_fwdbwd_ms_100k_512"] = _median_ms(
        _forward_backward(100_000, 512, "torch"), repeats=3
    )
    _log(f"fit: {FIT_STEPS} steps on {FIT_VIEWS - len(HELD_OUT)} views at {FIT_WIDTH}px")
    figures.update(_fit())
    return {
        **figures,
        "repeats": REPEATS,
        "torch_threads": torch.get_num_threads(),
        "cpus": len(os.sched_getaffinity(0)),
        "machine": platform.machine(),
    }


# -- renderer timings --------------------------------------------------------------------------


def _forward(n: int, width: int, backend: str) -> Callable[[], None]:
    """One forward render of the benchmark scene, without autograd."""
    cloud, camera = make_benchmark_scene(n, width, seed=0)

    def run() -> None:
        with torch.no_grad():
            render_splats(cloud, camera, backend=backend)

    return run


def _forward_backward(n: int, width: int, backend: str) -> Callable[[], None]:
    """One render and backward pass into every tensor of the benchmark scene."""
    cloud, camera = make_benchmark_scene(n, width, seed=0)
    tensors = [cloud.means, cloud.quats, cloud.log_scales, cloud.opacity_logits, cloud.sh]
    leaves = [t.clone().requires_grad_(True) for t in tensors]
    weights = torch.rand(width, width, 3, generator=torch.Generator().manual_seed(1))

    def run() -> None:
        for t in leaves:
            t.grad = None
        rgb = render_splats(SplatCloud(*leaves), camera, backend=backend).rgb
        (rgb * weights).sum().backward()

    return run


def _median_ms(run: Callable[[], None], *, repeats: int = REPEATS) -> float:
    """Median wall time of ``repeats`` runs after one untimed warm-up run."""
    run()  # numba compiles (or loads its cache) here
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - started)
    return round(statistics.median(seconds) * 1e3, 2)


def _peak_memory_mb(n: int, width: int) -> float:
    """Peak RSS growth of one cpu fwd+bwd, measured in a child process (see the docstring)."""
    code = (
        "from continuum.bench.splats import _peak_memory_child; "
        f"print(_peak_memory_child({n}, {width}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ContinuumError(f"the peak-memory child failed:\n{done.stderr[-2000:]}")
    return round(float(done.stdout.strip().splitlines()[-1]), 1)


def _peak_memory_child(n: int, width: int) -> float:
    """In a fresh process: MB of RSS growth at the peak of one cpu fwd+bwd of the scene."""
    _forward_backward(1_000, 64, "cpu")()  # numba compiles (or loads) its kernels here
    run = _forward_backward(n, width, "cpu")  # the scene itself is part of the baseline
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
    except OSError as exc:
        raise ContinuumError(f"cannot reset the peak-RSS mark (Linux only): {exc}") from exc
    before = _status_kb("VmRSS")
    run()
    return (_status_kb("VmHWM") - before) / 1024


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise ContinuumError(f"/proc/self/status has no {field}")


# -- fitting -----------------------------------------------------------------------------------


def _fit() -> dict:
    scene = synthetic_scene()
    cameras = ring_cameras(FIT_VIEWS, FIT_WIDTH)
    with torch.no_grad():
        images = [render_splats(scene, c, backend="cpu").rgb for c in cameras]
    train = [i for i in range(FIT_VIEWS) if i not in HELD_OUT]
    config = FitConfig(random_count=5_000, max_gaussians=30_000, sh_degree=1)
    result = fit_splats(
        [images[i] for i in train],
        [cameras[i] for i in train],
        init="random",
        steps=FIT_STEPS,
        config=config,
        backend="cpu",
    )
    with torch.no_grad():
        scores = [
            psnr(render_splats(result.cloud, cameras[i], backend="cpu").rgb.clamp(0, 1), images[i])
            for i in HELD_OUT
        ]
    return {
        "fit_psnr_db": round(statistics.mean(scores), 2),
        "fit_seconds": round(result.seconds, 1),
        "fit_steps": FIT_STEPS,
        "fit_width": FIT_WIDTH,
        "fit_gaussians": len(result.cloud),
        "fit_scene_gaussians": len(scene),
    }


def synthetic_scene(*, seed: int = 0) -> SplatCloud:
    """The fitting benchmark's ground truth: splats covering a cube with a procedural texture,
    a sphere with smoothly varying vertex colours, and a slab under both with face colours."""
    rng = np.random.default_rng(seed)
    # A cube whose sides carry a checkerboard with a colour ramp.
    cube = trimesh.creation.box(extents=(0.7, 0.7, 0.7))
    cube.unmerge_vertices()
    axis = np.abs(cube.face_normals).argmax(axis=1).repeat(3)  # per unmerged vertex
    plane = np.array([[1, 2], [0, 2], [0, 1]])[axis]  # the two in-plane coordinates
    uv = np.take_along_axis(cube.vertices, plane, axis=1) / 0.7 + 0.5
    ys, xs = np.mgrid[0:64, 0:64]
    texture = np.stack(
        [xs * 4, ys * 4, np.where((xs // 8 + ys // 8) % 2 == 0, 230, 40)], axis=-1
    ).astype(np.uint8)
    cube.visual = trimesh.visual.TextureVisuals(uv=uv, image=Image.fromarray(texture))
    cube.apply_translation((-0.5, 0.35, 0.0))
    # A sphere coloured by its position.
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.4)
    sphere.visual.vertex_colors = np.concatenate(
        [(sphere.vertices / 0.8 + 0.5) * 255, np.full((len(sphere.vertices), 1), 255)], axis=1
    ).astype(np.uint8)
    sphere.apply_translation((0.5, 0.4, 0.1))
    # A slab with random face colours.
    slab = trimesh.creation.box(extents=(2.0, 0.1, 1.4))
    grey_ish = rng.integers(60, 200, size=(len(slab.faces), 3))
    slab.visual.face_colors = np.concatenate([grey_ish, np.full((len(grey_ish), 1), 255)], axis=1)
    clouds = [
        mesh_to_splats(mesh, splats_per_area=4_000.0, seed=seed) for mesh in (cube, sphere, slab)
    ]
    return SplatCloud.concatenate(clouds)


def ring_cameras(count: int, width: int) -> list[Camera]:
    """Cameras on two rings (alternating heights) around the scene, looking at its middle."""
    cameras = []
    for i in range(count):
        angle = 2 * math.pi * i / count
        height = 1.2 if i % 2 == 0 else 0.4
        eye = (2.6 * math.sin(angle), height, 2.6 * math.cos(angle))
        cameras.append(
            Camera.look_at(eye, (0.0, 0.25, 0.0), fov_y_deg=50.0, width=width, height=width)
        )
    return cameras


def _log(message: str) -> None:
    print(f"bench splats: {message}", file=sys.stderr, flush=True)
