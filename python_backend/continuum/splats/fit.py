"""Fitting splats to posed images: the 3D Gaussian Splatting optimisation (Kerbl et al. 2023).

``fit_splats`` runs the reference recipe: per-parameter Adam, loss 0.8 L1 + 0.2 (1 - SSIM),
densification by clone and split driven by the screen-space positional gradient, pruning,
opacity resets and an SH degree that grows over time, with every step count of the reference
30k schedule scaled to the run's budget (see ``FitConfig``). ``read_views`` reads the posed
image folder format of ``continuum splats fit``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy.spatial import cKDTree
from tqdm import tqdm

from continuum.errors import ContinuumError
from continuum.splats.camera import Camera
from continuum.splats.cloud import SplatCloud, quat_to_rotmat
from continuum.splats.render import render_splats
from continuum.splats.sh import rgb_to_sh0

REFERENCE_STEPS = 30_000


@dataclass
class FitConfig:
    """Settings of ``fit_splats``; the defaults are those of the reference 3DGS trainer.

    Scaling rule: the step counts below (``densify_from``, ``densify_until``,
    ``densify_every``, ``opacity_reset_every``, ``sh_degree_every``) are given on a schedule
    of ``reference_steps`` steps. A run of ``steps`` steps multiplies each by
    ``steps / reference_steps`` (rounded, at least 1), so a 3,000-step run densifies from step
    50 to 1,500 every 10 steps and resets opacity every 300. Set ``reference_steps = steps``
    to use the counts as they are. The means' learning rate decays over the whole run.

    Learning rates:
        means_lr, means_lr_final: start and end of the exponential decay, in units of the scene
            extent (1.1 x the largest distance of a camera centre from their mean)
        sh0_lr: the DC colour coefficient; shN_lr: the higher bands (sh0_lr / 20)
        opacity_lr, scales_lr (of log-scales), quats_lr
    Loss:
        ssim_weight: loss = (1 - w) L1 + w (1 - SSIM)
    Colour:
        sh_degree: final SH degree; the active degree starts at 0 and grows by one every
            ``sh_degree_every`` steps
    Densification (from ``densify_from`` to ``densify_until``, every ``densify_every`` steps):
        grad_threshold: mean screen-space positional gradient (in NDC units, as 3DGS) above
            which a Gaussian is densified: cloned if its largest scale is at most
            ``dense_fraction`` x extent, else split into 2 samples of itself with scales / 1.6
        prune_opacity: Gaussians below this opacity are removed
        prune_screen_px, prune_world_fraction: after the first opacity reset, Gaussians wider
            than this many pixels on screen or this fraction of the extent are removed
        opacity_reset_every, opacity_reset_value: opacities are capped at the value this often
        max_gaussians: densification stops growing the cloud here (None: no bound)
    Initialisation:
        random_count: Gaussians of ``init="random"``, uniform in ``random_box`` (None: a cube
            around the point the cameras look at, as wide as their view there)
        init_opacity: opacity of new Gaussians from points or at random
    """

    reference_steps: int = REFERENCE_STEPS
    means_lr: float = 1.6e-4
    means_lr_final: float = 1.6e-6
    sh0_lr: float = 2.5e-3
    shN_lr: float = 2.5e-3 / 20
    opacity_lr: float = 5e-2
    scales_lr: float = 5e-3
    quats_lr: float = 1e-3
    ssim_weight: float = 0.2
    sh_degree: int = 3
    sh_degree_every: int = 1_000
    densify_from: int = 500
    densify_until: int = 15_000
    densify_every: int = 100
    grad_threshold: float = 2e-4
    dense_fraction: float = 0.01
    prune_opacity: float = 0.005
    prune_screen_px: float = 20.0
    prune_world_fraction: float = 0.1
    opacity_reset_every: int = 3_000
    opacity_reset_value: float = 0.01
    max_gaussians: int | None = None
    random_count: int = 100_000
    random_box: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None
    init_opacity: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.sh_degree not in (0, 1, 2, 3):
            raise ValueError(f"FitConfig.sh_degree must be 0..3, got {self.sh_degree}")
        for name in (
            "reference_steps",
            "sh_degree_every",
            "densify_every",
            "opacity_reset_every",
            "random_count",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"FitConfig.{name} must be at least 1, got {getattr(self, name)}")
        if self.max_gaussians is not None and self.max_gaussians < 1:
            raise ValueError(
                f"FitConfig.max_gaussians must be None or >= 1, got {self.max_gaussians}"
            )
        for name in ("init_opacity", "opacity_reset_value"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"FitConfig.{name} must lie in (0, 1), got {getattr(self, name)}")
        if not 0.0 <= self.ssim_weight <= 1.0:
            raise ValueError(f"FitConfig.ssim_weight must lie in [0, 1], got {self.ssim_weight}")


@dataclass
class FitResult:
    """What ``fit_splats`` returns.

    Attributes:
        cloud: the fitted Gaussians, detached, at ``config.sh_degree``
        losses: the training loss of every step  # [steps]
        counts: the number of Gaussians after every step  # [steps]
        seconds: wall time of the optimisation
    """

    cloud: SplatCloud
    losses: list[float] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    seconds: float = 0.0


def fit_splats(
    images: Sequence[torch.Tensor | np.ndarray],
    cameras: Sequence[Camera],
    *,
    init: SplatCloud | str | torch.Tensor | np.ndarray = "random",
    steps: int = REFERENCE_STEPS,
    config: FitConfig | None = None,
    progress: bool = True,
    backend: str = "auto",
) -> FitResult:
    """Optimise Gaussians so that they render like the images from their cameras.

    Args:
        images: one per camera, RGB in [0, 1] (float) or 0..255 (uint8)  # [H, W, 3] each
        cameras: their cameras; width and height must match the image
        init: a SplatCloud to start from; "random" (see ``FitConfig.random_count``); or
            points  # [N, 3] positions or [N, 6] positions and RGB in [0, 1]
        steps: optimisation steps, one image each (the views are visited in shuffled rounds)
        config: the recipe; None for the reference defaults
        progress: show a tqdm progress bar on stderr
        backend: the ``render_splats`` backend
    Returns:
        the fitted cloud and the loss history
    """
    config = FitConfig() if config is None else config
    # 1. Check the inputs and measure the scene.
    targets = _check_views(images, cameras)
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    generator = torch.Generator().manual_seed(config.seed)
    extent = _scene_extent(cameras)
    schedule = _Schedule(config, steps)

    # 2. The starting cloud, as parameters with their own Adam learning rates.
    cloud = _initial_cloud(init, cameras, config, extent, generator).with_sh_degree(
        config.sh_degree
    )
    params = _Parameters(cloud, config, extent)
    stats = _DensifyStats(len(cloud))

    # 3. The loop: render one view, step, and grow or prune the cloud on the schedule.
    result = FitResult(cloud=cloud)
    order: list[int] = []
    started = time.perf_counter()
    bar = tqdm(range(1, steps + 1), desc="fit", disable=not progress, leave=False)
    for step in bar:
        if not order:
            order = torch.randperm(len(cameras), generator=generator).tolist()
        view = order.pop()
        params.set_means_lr(schedule.means_lr(step))
        active = params.cloud()
        sh_degree = min(config.sh_degree, step // schedule.sh_degree_every)
        rendered = render_splats(active, cameras[view], backend=backend, sh_degree=sh_degree).rgb
        loss = (1 - config.ssim_weight) * (rendered - targets[view]).abs().mean() + (
            config.ssim_weight * (1 - ssim(rendered, targets[view]))
        )
        loss.backward()
        with torch.no_grad():
            if step < schedule.densify_until:
                stats.add(params.means, cameras[view], active)
            params.step()
            if step < schedule.densify_until:
                if step > schedule.densify_from and step % schedule.densify_every == 0:
                    after_reset = step > schedule.opacity_reset_every
                    _densify_and_prune(
                        params, stats, config, extent, prune_large=after_reset, generator=generator
                    )
                if step % schedule.opacity_reset_every == 0:
                    params.reset_opacity(config.opacity_reset_value)
        result.losses.append(loss.item())
        result.counts.append(params.count)
        bar.set_postfix(loss=f"{result.losses[-1]:.4f}", n=params.count, refresh=False)
    result.seconds = time.perf_counter() - started
    result.cloud = params.cloud().detach()
    return result


def ssim(
    a: torch.Tensor,
    b: torch.Tensor,
    *,
    window: int = 11,
    sigma: float = 1.5,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean structural similarity of two images, with a Gaussian window (as 3DGS computes it).

    Args:
        a, b: images with values in [0, 1]  # [H, W, C]
        mask: average over these pixels only (None: all)  # [H, W] bool
    Returns:
        a scalar tensor, 1 for identical images
    """
    coords = torch.arange(window, dtype=a.dtype, device=a.device) - (window - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    channels = a.shape[-1]
    kernel = (g[:, None] * g[None, :]).expand(channels, 1, window, window)
    x = a.permute(2, 0, 1)[None]  # [1, C, H, W]
    y = b.permute(2, 0, 1)[None]

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, kernel, padding=window // 2, groups=channels)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    if mask is None:
        return s.mean()
    return s[0].mean(dim=0)[mask].mean()


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of images with values in [0, 1]  # [H, W, C]"""
    mse = float(((a - b) ** 2).mean())
    return math.inf if mse == 0 else -10.0 * math.log10(mse)


def read_views(path: str | Path) -> tuple[list[torch.Tensor], list[Camera]]:
    """Read posed images: a ``cameras.json`` file, or a folder holding one.

    The format (image paths relative to the JSON file's folder; world_to_camera in the OpenCV
    convention, +x right, +y down, +z forward; a row-major 4x4)::

        {"cameras": [
            {"image": "000.png", "width": 64, "height": 64,
             "fx": 80.0, "fy": 80.0, "cx": 32.0, "cy": 32.0,
             "world_to_camera": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 3], [0, 0, 0, 1]]},
            ...]}

    Returns:
        images, RGB float in [0, 1]  # [H, W, 3] each; and their cameras
    Raises:
        ContinuumError: a missing or malformed file, or an image of another size
    """
    path = Path(path)
    if path.is_dir():
        path = path / "cameras.json"
    try:
        entries = json.loads(path.read_text())["cameras"]
    except FileNotFoundError as exc:
        raise ContinuumError(f"no cameras file at {str(path)!r}") from exc
    except OSError as exc:
        raise ContinuumError(f"cannot read {str(path)!r}: {exc}") from exc
    except (ValueError, KeyError, TypeError) as exc:  # not JSON, or no 'cameras'
        raise ContinuumError(
            f"{str(path)!r} is not a cameras file: expected a JSON object with a 'cameras' list"
        ) from exc
    if not isinstance(entries, list) or not entries:
        raise ContinuumError(f"{str(path)!r}: 'cameras' must be a non-empty list")
    images, cameras = [], []
    for i, entry in enumerate(entries):
        where = f"{str(path)!r} camera {i}"
        try:
            width, height = int(entry["width"]), int(entry["height"])
            matrix = torch.tensor(entry["world_to_camera"], dtype=torch.float32)
            camera = Camera(
                fx=float(entry["fx"]),
                fy=float(entry["fy"]),
                cx=float(entry["cx"]),
                cy=float(entry["cy"]),
                world_to_camera=matrix,
                width=width,
                height=height,
            )
            image_path = path.parent / entry["image"]
        except (KeyError, TypeError, ValueError) as exc:  # a missing field or a bad value
            raise ContinuumError(f"{where}: {exc!s}; see `continuum splats fit --help`") from exc
        try:
            with Image.open(image_path) as image:
                pixels = np.array(image.convert("RGB"))  # [H, W, 3] uint8
        except OSError as exc:
            raise ContinuumError(f"{where}: cannot read image {str(image_path)!r}: {exc}") from exc
        if pixels.shape[:2] != (height, width):
            raise ContinuumError(
                f"{where}: image {str(image_path)!r} is {pixels.shape[1]}x{pixels.shape[0]}, "
                f"expected {width}x{height}"
            )
        images.append(torch.from_numpy(pixels).float() / 255.0)
        cameras.append(camera)
    return images, cameras


# -- the pieces of the loop -------------------------------------------------------------------


class _Schedule:
    """The step counts of FitConfig scaled to a run of ``steps`` steps."""

    def __init__(self, config: FitConfig, steps: int) -> None:
        ratio = steps / config.reference_steps

        def scaled(count: int) -> int:
            return max(1, round(count * ratio))

        self.densify_from = scaled(config.densify_from)
        self.densify_until = scaled(config.densify_until)
        self.densify_every = scaled(config.densify_every)
        self.opacity_reset_every = scaled(config.opacity_reset_every)
        self.sh_degree_every = scaled(config.sh_degree_every)
        self._steps = steps
        self._lr = (config.means_lr, config.means_lr_final)

    def means_lr(self, step: int) -> float:
        """Exponential decay from means_lr to means_lr_final over the run (x extent later)."""
        t = min(1.0, step / self._steps)
        start, end = self._lr
        return math.exp((1 - t) * math.log(start) + t * math.log(end))


class _Parameters:
    """The cloud as leaf tensors, one Adam group each, with the state kept row-aligned.

    Names: means [N, 3], quats [N, 4], log_scales [N, 3], opacity_logits [N], sh0 [N, 1, 3],
    shN [N, K - 1, 3]. Adding or removing Gaussians extends (with zeros) or selects the rows
    of every tensor and of both Adam moments.
    """

    def __init__(self, cloud: SplatCloud, config: FitConfig, extent: float) -> None:
        self._extent = extent
        tensors = {
            "means": cloud.means,
            "quats": cloud.quats,
            "log_scales": cloud.log_scales,
            "opacity_logits": cloud.opacity_logits,
            "sh0": cloud.sh[:, :1],
            "shN": cloud.sh[:, 1:],
        }
        rates = {
            "means": config.means_lr * extent,
            "quats": config.quats_lr,
            "log_scales": config.scales_lr,
            "opacity_logits": config.opacity_lr,
            "sh0": config.sh0_lr,
            "shN": config.shN_lr,
        }
        self.tensors = {k: v.detach().clone().requires_grad_(True) for k, v in tensors.items()}
        self.optimizer = torch.optim.Adam(
            [{"params": [self.tensors[k]], "lr": rates[k], "name": k} for k in tensors],
            eps=1e-15,
        )

    @property
    def means(self) -> torch.Tensor:
        return self.tensors["means"]

    @property
    def count(self) -> int:
        return self.tensors["means"].shape[0]

    def cloud(self) -> SplatCloud:
        t = self.tensors
        sh = torch.cat([t["sh0"], t["shN"]], dim=1)
        return SplatCloud(t["means"], t["quats"], t["log_scales"], t["opacity_logits"], sh)

    def set_means_lr(self, lr: float) -> None:
        """Set the means' rate to ``lr`` x extent (the means are the first group)."""
        self.optimizer.param_groups[0]["lr"] = lr * self._extent

    def step(self) -> None:
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def keep(self, mask: torch.Tensor) -> None:
        """Keep the Gaussians where ``mask`` is True  # [N] bool"""
        if bool(mask.all()):
            return
        self._replace(lambda name, t: t[mask], lambda moment: moment[mask])

    def append(self, rows: dict[str, torch.Tensor]) -> None:
        """Add Gaussians (one tensor per name, M rows each); their Adam moments start at 0."""
        self._replace(
            lambda name, t: torch.cat([t, rows[name]]),
            lambda moment: torch.cat(
                [moment, moment.new_zeros(len(rows["means"]), *moment.shape[1:])]
            ),
        )

    def reset_opacity(self, value: float) -> None:
        """Cap every opacity at ``value`` and forget the opacity's Adam moments."""
        cap = math.log(value / (1 - value))
        self._replace(
            lambda name, t: t.clamp_max(cap),
            torch.zeros_like,
            names=("opacity_logits",),
        )

    def _replace(
        self,
        tensor_fn: Callable[[str, torch.Tensor], torch.Tensor],
        moment_fn: Callable[[torch.Tensor], torch.Tensor],
        names: Sequence[str] | None = None,
    ) -> None:
        """New leaf tensors from ``tensor_fn(name, old)``, Adam moments from ``moment_fn``."""
        for group in self.optimizer.param_groups:
            name = group["name"]
            if names is not None and name not in names:
                continue
            old = group["params"][0]
            new = tensor_fn(name, old.detach()).requires_grad_(True)
            state = self.optimizer.state.pop(old, {})
            for key in ("exp_avg", "exp_avg_sq"):
                if key in state:
                    state[key] = moment_fn(state[key])
            if state:
                self.optimizer.state[new] = state
            group["params"][0] = new
            self.tensors[name] = new


class _DensifyStats:
    """Per-Gaussian screen-space gradient norms, view counts and largest screen radius.

    The positional gradient on screen is recovered from the 3D one: for a Gaussian whose
    projected centre u = P(mean) has the 2x3 Jacobian J, dL/dmean = J^T dL/du along that path,
    so dL/du = (J J^T)^-1 J dL/dmean (the least-squares solution; the smaller paths through the
    projected covariance and the SH view direction are ignored). It is expressed in NDC units
    (x W/2, H/2), as the 3DGS threshold expects. This needs nothing from the renderer but the
    gradient of the means, so every backend supports it.
    """

    def __init__(self, n: int) -> None:
        self.grad_sum = torch.zeros(n)
        self.views = torch.zeros(n)
        self.max_radius = torch.zeros(n)

    def add(self, means: torch.Tensor, camera: Camera, cloud: SplatCloud) -> None:
        if means.grad is None:
            return
        visible, radius, jacobian = _screen_footprint(cloud.detach(), camera)
        jac = jacobian.double()
        g = jac @ means.grad.double()[:, :, None]  # [N, 2, 1]
        grad2d = torch.linalg.solve(jac @ jac.transpose(1, 2), g)[:, :, 0]  # [N, 2] pixels
        grad2d = grad2d * torch.tensor([camera.width / 2, camera.height / 2])
        norm = grad2d.norm(dim=-1).float()
        self.grad_sum += torch.where(visible, norm, 0.0)
        self.views += visible.float()
        self.max_radius = torch.where(visible, self.max_radius.maximum(radius), self.max_radius)

    def reset(self, n: int) -> None:
        self.__init__(n)


def _screen_footprint(
    cloud: SplatCloud, camera: Camera
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Which Gaussians a camera sees, their screen radius (3 sigma) in pixels, and the
    Jacobian of the projected centre with respect to the mean.

    Returns: visible [N] bool, radius [N], jacobian [N, 2, 3] (pixels per metre)
    """
    w2c = camera.world_to_camera.to(torch.float32)
    rotation, translation = w2c[:3, :3], w2c[:3, 3]
    t = cloud.means.float() @ rotation.T + translation  # [N, 3]
    # Behind the camera the Jacobian is meaningless; a unit depth keeps it finite (and such
    # Gaussians are not visible).
    z = torch.where(t[:, 2] > camera.near, t[:, 2], 1.0)
    zero = torch.zeros_like(z)
    jac_cam = torch.stack(
        [
            torch.stack([camera.fx / z, zero, -camera.fx * t[:, 0] / z**2], dim=-1),
            torch.stack([zero, camera.fy / z, -camera.fy * t[:, 1] / z**2], dim=-1),
        ],
        dim=1,
    )  # [N, 2, 3]
    jacobian = jac_cam @ rotation  # [N, 2, 3]
    m = quat_to_rotmat(cloud.quats.float()) * cloud.log_scales.float().exp()[:, None, :]
    cov2d = jacobian @ m @ m.transpose(1, 2) @ jacobian.transpose(1, 2)  # [N, 2, 2]
    a, b, c = cov2d[:, 0, 0] + 0.3, cov2d[:, 0, 1], cov2d[:, 1, 1] + 0.3
    largest = 0.5 * (a + c) + torch.sqrt((0.25 * (a - c) ** 2 + b * b).clamp_min(0))
    radius = 3.0 * largest.sqrt()
    u = camera.fx * t[:, 0] / z + camera.cx
    v = camera.fy * t[:, 1] / z + camera.cy
    visible = (
        (t[:, 2] > camera.near)
        & (u + radius > 0)
        & (u - radius < camera.width)
        & (v + radius > 0)
        & (v - radius < camera.height)
    )
    return visible, radius, jacobian


def _densify_and_prune(
    params: _Parameters,
    stats: _DensifyStats,
    config: FitConfig,
    extent: float,
    *,
    prune_large: bool,
    generator: torch.Generator,
) -> None:
    """Clone small and split large Gaussians with a high screen gradient, then prune the
    transparent ones and, if ``prune_large``, the oversized ones."""
    # 1. Candidates: a mean screen gradient over the threshold, best first within the budget.
    t = {k: v.detach() for k, v in params.tensors.items()}
    grads = stats.grad_sum / stats.views.clamp_min(1)
    candidates = torch.nonzero(grads >= config.grad_threshold)[:, 0]
    if config.max_gaussians is not None:
        room = max(0, config.max_gaussians - params.count)
        best = torch.argsort(grads[candidates], descending=True)[:room]
        candidates = candidates[best]
    large = t["log_scales"][candidates].exp().amax(dim=-1) > config.dense_fraction * extent
    clone, split = candidates[~large], candidates[large]

    # 2. Clones are copies; splits are two samples from the Gaussian, 1.6 times narrower.
    new_rows = {k: v[clone] for k, v in t.items()}
    if len(split):
        scales = t["log_scales"][split].exp().repeat(2, 1)  # [2S, 3]
        noise = torch.randn(scales.shape, generator=generator) * scales
        rotation = quat_to_rotmat(t["quats"][split]).repeat(2, 1, 1)
        halves = {k: v[split].repeat(2, *([1] * (v.ndim - 1))) for k, v in t.items()}
        halves["means"] = halves["means"] + (rotation @ noise[:, :, None])[:, :, 0]
        halves["log_scales"] = halves["log_scales"] - math.log(1.6)
        new_rows = {k: torch.cat([new_rows[k], halves[k]]) for k in t}
    keep = torch.ones(params.count, dtype=torch.bool)
    keep[split] = False
    params.keep(keep)
    params.append(new_rows)

    # 3. Prune the transparent, and (after the first opacity reset) the oversized.
    t = {k: v.detach() for k, v in params.tensors.items()}
    prune = torch.sigmoid(t["opacity_logits"]) < config.prune_opacity
    if prune_large:
        radius = torch.cat([stats.max_radius[keep], torch.zeros(len(new_rows["means"]))])
        prune |= radius > config.prune_screen_px
        prune |= t["log_scales"].exp().amax(dim=-1) > config.prune_world_fraction * extent
    if prune.all():  # never leave an empty cloud
        prune[torch.argmax(t["opacity_logits"])] = False
    params.keep(~prune)
    stats.reset(params.count)


# -- inputs -----------------------------------------------------------------------------------


def _check_views(
    images: Sequence[torch.Tensor | np.ndarray], cameras: Sequence[Camera]
) -> list[torch.Tensor]:
    """The images as float32 [H, W, 3] in [0, 1], checked against their cameras."""
    if len(images) != len(cameras) or not images:
        raise ValueError(
            f"need one image per camera and at least one: got {len(images)} images and "
            f"{len(cameras)} cameras"
        )
    out = []
    for i, (image, camera) in enumerate(zip(images, cameras, strict=True)):
        t = torch.as_tensor(image)
        t = t.float() / 255.0 if t.dtype == torch.uint8 else t.float()
        expected = (camera.height, camera.width, 3)
        if tuple(t.shape) != expected:
            raise ValueError(f"images[{i}] must have shape {list(expected)}, got {list(t.shape)}")
        out.append(t)
    return out


def _camera_centres(cameras: Sequence[Camera]) -> torch.Tensor:
    """Camera centres in the world  # [C, 3]"""
    w2c = torch.stack([c.world_to_camera.to(torch.float64) for c in cameras])  # [C, 4, 4]
    rotation, translation = w2c[:, :3, :3], w2c[:, :3, 3]
    return -(rotation.transpose(1, 2) @ translation[:, :, None])[:, :, 0]


def _scene_extent(cameras: Sequence[Camera]) -> float:
    """1.1 x the largest distance of a camera centre from their mean (as 3DGS); 1 for one."""
    centres = _camera_centres(cameras)
    radius = float((centres - centres.mean(dim=0)).norm(dim=-1).max())
    return 1.1 * radius if radius > 0 else 1.0


def _initial_cloud(
    init: SplatCloud | str | torch.Tensor | np.ndarray,
    cameras: Sequence[Camera],
    config: FitConfig,
    extent: float,
    generator: torch.Generator,
) -> SplatCloud:
    """The starting Gaussians from a cloud, points (+ colours), or at random."""
    if isinstance(init, SplatCloud):
        if len(init) == 0:
            raise ValueError("init is an empty SplatCloud")
        return init.detach().to("cpu", torch.float32).clone()
    if isinstance(init, str):
        if init != "random":
            raise ValueError(f"init must be a SplatCloud, points or 'random', got {init!r}")
        lo, hi = (
            _box_in_view(cameras)
            if config.random_box is None
            else (torch.tensor(config.random_box[0]), torch.tensor(config.random_box[1]))
        )
        u = torch.rand(config.random_count, 3, generator=generator)
        points = lo + u * (hi - lo)
        colours = torch.rand(config.random_count, 3, generator=generator)
    else:
        data = torch.as_tensor(init, dtype=torch.float32)
        if data.ndim != 2 or data.shape[1] not in (3, 6) or len(data) == 0:
            raise ValueError(
                f"init points must have shape [N, 3] or [N, 6] with N > 0, got {list(data.shape)}"
            )
        points = data[:, :3]
        colours = data[:, 3:] if data.shape[1] == 6 else torch.full_like(points, 0.5)
    return _cloud_at_points(points.float(), colours.float(), config.init_opacity, extent)


def _cloud_at_points(
    points: torch.Tensor, colours: torch.Tensor, opacity: float, extent: float
) -> SplatCloud:
    """Isotropic Gaussians at points, as wide as the RMS distance to their 3 nearest neighbours
    (3DGS's initial scale)  # [N, 3], [N, 3] -> N Gaussians"""
    n = len(points)
    if n > 1:
        k = min(4, n)
        distances, _ = cKDTree(points.numpy()).query(points.numpy(), k=k)
        spread = torch.from_numpy(np.sqrt((distances[:, 1:] ** 2).mean(axis=1))).float()
    else:
        spread = torch.full((n,), 0.01 * extent)
    log_scale = torch.log(spread.clamp_min(1e-7))
    quats = torch.zeros(n, 4)
    quats[:, 0] = 1
    return SplatCloud(
        means=points,
        quats=quats,
        log_scales=log_scale[:, None].expand(n, 3).clone(),
        opacity_logits=torch.full((n,), math.log(opacity / (1 - opacity))),
        sh=rgb_to_sh0(colours)[:, None, :],
    )


def _box_in_view(cameras: Sequence[Camera]) -> tuple[torch.Tensor, torch.Tensor]:
    """A cube around the point nearest to every optical axis, as wide as the narrowest view
    there (assumes cameras that look inward; set FitConfig.random_box otherwise)."""
    centres = _camera_centres(cameras)  # [C, 3]
    axes = torch.stack([c.world_to_camera.to(torch.float64)[2, :3] for c in cameras])  # [C, 3]
    projector = torch.eye(3, dtype=torch.float64) - axes[:, :, None] * axes[:, None, :]
    lhs = projector.sum(dim=0)
    rhs = (projector @ centres[:, :, None]).sum(dim=0)[:, 0]
    focus = torch.linalg.lstsq(lhs, rhs[:, None]).solution[:, 0]  # [3]
    distance = float((centres - focus).norm(dim=-1).median())
    half_fov = min(min(c.width / (2 * c.fx), c.height / (2 * c.fy)) for c in cameras)
    half = max(distance * half_fov, 1e-3)
    return (focus - half).float(), (focus + half).float()
