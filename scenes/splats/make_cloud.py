"""Write cloud.ply: a rainbow torus of 1,536 Gaussians, SH degree 1 (the `splats` scene's cloud).

    .venv/bin/python scenes/splats/make_cloud.py

Deterministic (a regular grid, no random numbers), so rerunning rewrites the same file. The ring
stands in the entity's XY plane, facing +Z, 1.4 m across; its colour runs through the hues once
around the ring, and the band-1 SH brighten each surface patch seen from its outside.
"""

from __future__ import annotations

import colorsys
from pathlib import Path

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from continuum.splats import SplatCloud, write_splats

MAJOR_RADIUS, MINOR_RADIUS = 0.55, 0.15  # metres
AROUND, ACROSS = 64, 24  # Gaussians around the ring and around the tube
SH_C0 = 0.28209479177387814  # the degree-0 SH basis constant


def make_cloud() -> SplatCloud:
    u = np.repeat(np.arange(AROUND) * 2 * np.pi / AROUND, ACROSS)  # angle around the ring  # [N]
    v = np.tile(np.arange(ACROSS) * 2 * np.pi / ACROSS, AROUND)  # angle around the tube  # [N]
    ring = np.stack([np.cos(u), np.sin(u), np.zeros_like(u)], axis=1)  # [N, 3]
    normal = np.cos(v)[:, None] * ring + np.sin(v)[:, None] * np.array([0.0, 0.0, 1.0])
    means = (MAJOR_RADIUS + MINOR_RADIUS * np.cos(v))[:, None] * ring + MINOR_RADIUS * np.sin(v)[
        :, None
    ] * np.array([0.0, 0.0, 1.0])
    along = np.stack([-np.sin(u), np.cos(u), np.zeros_like(u)], axis=1)  # ring tangent  # [N, 3]
    across = np.cross(normal, along)  # tube tangent  # [N, 3]
    # Each Gaussian lies flat on the surface: wide along both tangents, thin along the normal.
    frames = np.stack([along, across, normal], axis=2)  # columns are the local axes  # [N, 3, 3]
    xyzw = Rotation.from_matrix(frames).as_quat()
    quats = np.concatenate([xyzw[:, 3:], xyzw[:, :3]], axis=1)  # [N, 4] w, x, y, z
    spacing_along = 2 * np.pi * (MAJOR_RADIUS + MINOR_RADIUS * np.cos(v)) / AROUND
    spacing_across = np.full_like(v, 2 * np.pi * MINOR_RADIUS / ACROSS)
    scales = np.stack([0.6 * spacing_along, 0.6 * spacing_across, np.full_like(v, 0.004)], 1)

    rgb = np.array([colorsys.hsv_to_rgb(a / (2 * np.pi), 0.8, 0.95) for a in u])  # [N, 3]
    rgb *= (0.75 + 0.25 * np.sin(v))[:, None]  # lighter on the side facing the camera
    sh = np.zeros((len(u), 4, 3))
    sh[:, 0] = (rgb - 0.5) / SH_C0
    # Band 1 is (-y, z, -x) times 0.4886; this brightens a patch seen along its own normal.
    sh[:, 1:4] = 0.15 * np.stack([-normal[:, 1], normal[:, 2], -normal[:, 0]], 1)[:, :, None]

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))

    return SplatCloud(
        means=t(means),
        quats=t(quats),
        log_scales=t(np.log(scales)),
        opacity_logits=t(np.full(len(u), 3.0)),
        sh=t(sh),
    )


if __name__ == "__main__":
    out = Path(__file__).resolve().parent / "cloud.ply"
    write_splats(make_cloud(), out)
    print(f"wrote {out} ({out.stat().st_size} octets)")
