"""Editing a selected part of a SplatCloud: the ops of ``splat.edit`` (PROTOCOL.md section 16).

Every op takes a cloud and a selection and returns a NEW SplatCloud (fresh tensors; the input is
never changed). The guarantee of the protocol holds by construction: each op computes the
selected rows alone and writes them into copies of the others, so every Gaussian outside the
selection is bit-identical after the edit (``torch.equal`` on every field) and keeps its order;
``delete`` keeps the others in order, ``duplicate`` appends the copies after the last Gaussian.

Selections are what ``splats.selection`` makes: a bool mask ``[N]``, or float scores ``[N]`` in
0..1. How an op reads scores:
    recolor, tint               blends, so a score weights the blend (a soft brush feathers the
                                edit); a Gaussian with score 0 is outside
    delete, transform,          need a yes or no: the Gaussians whose score reaches
    duplicate, optimize         ``HARD_THRESHOLD`` (0.5, the default threshold of ``splat.select``)
                                are selected, the others are outside

Ops:
    ``delete``      removes the selected Gaussians
    ``recolor``     sets their base colour (DC) and clears their view-dependent bands
    ``tint``        blends the DC towards a colour and scales the other bands towards zero
    ``transform``   moves, rotates and scales them about a pivot; orientations, sizes and the
                    view-dependent colour (SH rotated with ``sh.sh_rotation``) follow
    ``duplicate``   appends moved copies of them
    ``optimize``    fits their parameters to target images by gradient descent, the rest frozen

``outside_psnr_db`` measures what an edit did to the rest of the cloud, for the benchmark.
``_tint_reference`` and ``_transform_reference`` are the plain per-Gaussian references that the
tests compare the vectorised ops against.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence

import numpy as np
import torch

from continuum.splats.camera import Camera
from continuum.splats.cloud import SplatCloud, quat_multiply, quat_to_rotmat, rotmat_to_quat
from continuum.splats.fit import FitConfig, psnr, ssim
from continuum.splats.render import Backend, render_splats
from continuum.splats.sh import rgb_to_sh0, sh_basis, sh_rotation

HARD_THRESHOLD = 0.5
"""Soft scores at or above this select a Gaussian for delete, transform, duplicate, optimize."""

Selection = torch.Tensor | np.ndarray
Vector = Sequence[float] | torch.Tensor | np.ndarray
_F64 = torch.float64


# -- the ops ------------------------------------------------------------------------------------


def delete(cloud: SplatCloud, selection: Selection) -> SplatCloud:
    """Remove the selected Gaussians; the others keep their values and their order.

    Args:
        cloud: N Gaussians
        selection: bool [N], or float scores [N] in 0..1 (selected at >= ``HARD_THRESHOLD``)
    Returns:
        the N - M unselected Gaussians, in their order (M may be N: an empty cloud)
    """
    index = _hard_index(cloud, selection)
    keep = torch.ones(len(cloud), dtype=torch.bool, device=cloud.device)
    keep[index] = False
    return cloud.select(keep)


def recolor(cloud: SplatCloud, selection: Selection, color: Vector) -> SplatCloud:
    """Give the selected Gaussians one colour from every direction.

    Their DC coefficient becomes ``rgb_to_sh0(color)`` and their higher SH bands zero. With soft
    scores the edit is ``tint(cloud, selection, color, 1.0)``: a Gaussian with score w moves a
    fraction w of the way (score 1 is the full recolour, score 0 is untouched).

    Args:
        cloud: N Gaussians
        selection: bool [N], or float scores [N] in 0..1 (the weight of the blend)
        color: linear RGB in 0..1  # [3]
    """
    return tint(cloud, selection, color, 1.0)


def tint(cloud: SplatCloud, selection: Selection, color: Vector, amount: float) -> SplatCloud:
    """Blend the selected Gaussians' colour towards ``color``, SH-aware.

    With weight w = ``amount`` x score (a bool selection scores 1):
        sh[:, 0]  -> lerp(sh[:, 0], rgb_to_sh0(color), w)     the base colour
        sh[:, 1:] -> sh[:, 1:] * (1 - w)                       the view-dependent part fades
    so every view of a Gaussian blends linearly towards ``color``: colour(d) -> (1 - w)
    colour(d) + w color. w = 1 is ``recolor`` exactly (the bands are set to +0).

    Args:
        cloud: N Gaussians
        selection: bool [N], or float scores [N] in 0..1 (multiplying ``amount``)
        color: linear RGB in 0..1  # [3]
        amount: 0..1; 0 changes nothing, 1 recolours
    """
    # 1. Arguments.
    rgb = _vector("color", color, 3).to(device=cloud.device, dtype=cloud.dtype)
    if not bool(((rgb >= 0) & (rgb <= 1)).all()):
        raise ValueError(f"color must be linear RGB in 0..1, got {rgb.tolist()}")
    amount = _unit_float("amount", amount)
    index, score = _soft_index(cloud, selection)

    # 2. The selected rows, blended; then scattered into a copy of the rest.
    w = (amount * score)[:, None]  # [M, 1]
    rows = cloud.sh[index]  # [M, K, 3]
    target = rgb_to_sh0(rgb).expand_as(rows[:, 0])  # [M, 3]
    dc = torch.lerp(rows[:, 0], target, w)
    full = w[:, :, None] == 1  # [M, 1, 1]
    rest = torch.where(full, torch.zeros_like(rows[:, 1:]), rows[:, 1:] * (1 - w[:, :, None]))
    sh = cloud.sh.clone()
    sh[index] = torch.cat([dc[:, None], rest], dim=1)
    return SplatCloud(
        cloud.means.clone(),
        cloud.quats.clone(),
        cloud.log_scales.clone(),
        cloud.opacity_logits.clone(),
        sh,
    )


def transform(
    cloud: SplatCloud,
    selection: Selection,
    *,
    translation: Vector | None = None,
    rotation: Vector | None = None,
    scale: float | Vector | None = None,
    pivot: Vector | None = None,
) -> SplatCloud:
    """Move, rotate and scale the selected Gaussians about ``pivot``.

    Each selected point x goes to ``pivot + translation + R S (x - pivot)``: scaled along the
    entity's axes first, then rotated, then moved.

    - means: as points.
    - shape: a Gaussian's covariance C becomes A C A^T with A = R S, exactly. For a uniform scale
      s (a float, or three equal values) the quaternions are composed with R (keeping their
      stored norm) and the log-scales shifted by log(s). For a non-uniform scale the new
      orientation and per-axis sizes are the singular vectors and values of A R_g diag(s_g)
      (the covariance is still exact; the axes come out in the order of decreasing size).
    - view-dependent colour: every SH band is rotated by R (``sh.sh_rotation``), so the
      Gaussian shows from direction R d what it showed from d. This is exact for rotations and
      uniform scales; a non-uniform scale also shears view directions, which no SH rotation can
      follow, and the colour is rotated by R only.
    - opacity: unchanged.

    Args:
        cloud: N Gaussians
        selection: bool [N], or float scores [N] in 0..1 (selected at >= ``HARD_THRESHOLD``)
        translation: metres  # [3]; None for none
        rotation: a quaternion (w, x, y, z) as SplatCloud stores them (normalised here; the
            wire's [x, y, z, w] must be reordered by the caller)  # [4], or a proper rotation
            matrix  # [3, 3]; None for none
        scale: a factor > 0, or one per entity axis  # [3]; None for 1
        pivot: the fixed point  # [3]; None for the centroid of the selected means
    """
    # 1. Arguments.
    index = _hard_index(cloud, selection)
    t = _vector("translation", translation, 3, default=0.0)
    r = None if rotation is None else _rotation_matrix(rotation)  # [3, 3] float64
    s = torch.ones(3, dtype=_F64) if scale is None else _scale_vector(scale)  # [3]
    part = cloud.select(index)
    p = part.means.to(_F64).mean(dim=0).cpu() if pivot is None else _vector("pivot", pivot, 3)

    # 2. Means about the pivot, in float64, back in the cloud's dtype.
    a = torch.diag(s) if r is None else r @ torch.diag(s)  # [3, 3]
    means = (part.means.to(_F64).cpu() - p) @ a.T + p + t
    means = means.to(device=cloud.device, dtype=cloud.dtype)

    # 3. Shapes: the exact uniform path, or the singular value decomposition.
    quats, log_scales = part.quats.clone(), part.log_scales.clone()
    if bool((s == s[0]).all()):
        if r is not None:
            q_r = rotmat_to_quat(r).to(device=cloud.device, dtype=cloud.dtype)
            quats = quat_multiply(q_r.expand_as(quats), quats)
            quats = quats * part.quats.norm(dim=-1, keepdim=True)  # keep the stored norm
        if s[0] != 1:
            log_scales = log_scales + math.log(float(s[0]))
    else:
        quats, log_scales = _linear_shapes(part, a.to(cloud.device))

    # 4. View-dependent colour turns with R (the DC band is invariant).
    sh = part.sh.clone()
    if r is not None and cloud.sh_degree > 0:
        m = sh_rotation(r, cloud.sh_degree).to(device=cloud.device, dtype=cloud.dtype)
        sh = torch.einsum("kj,njc->nkc", m, part.sh)

    moved = SplatCloud(means, quats, log_scales, part.opacity_logits.clone(), sh)
    return _scatter(cloud.detach(), index, moved)  # index_put copies: fresh tensors


def duplicate(cloud: SplatCloud, selection: Selection, offset: Vector) -> SplatCloud:
    """Append copies of the selected Gaussians, moved by ``offset``, after the last Gaussian.

    Args:
        cloud: N Gaussians
        selection: bool [N], or float scores [N] in 0..1 (selected at >= ``HARD_THRESHOLD``)
        offset: metres  # [3]
    Returns:
        N + M Gaussians: the originals unchanged in place, then the M copies in selection order
    """
    index = _hard_index(cloud, selection)
    shift = _vector("offset", offset, 3).to(device=cloud.device, dtype=cloud.dtype)
    copies = cloud.select(index)
    copies.means = copies.means + shift
    return SplatCloud.concatenate([cloud.detach(), copies.detach()])


def optimize(
    cloud: SplatCloud,
    selection: Selection,
    cameras: Sequence[Camera],
    targets: Sequence[torch.Tensor | np.ndarray],
    *,
    steps: int = 200,
    lr: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    backend: Backend = "auto",
) -> SplatCloud:
    """Fit the selected Gaussians to target images; every other Gaussian is frozen.

    Gradient descent with Adam, as ``fit_splats`` does it (the same loss, (1 - w) L1 + w
    (1 - SSIM) with w = ``FitConfig.ssim_weight``, and per-parameter learning rates in
    FitConfig's proportions), one view per step, in turn. Only the selected rows are
    parameters: each step scatters them into a detached copy of the cloud and renders that,
    so the others are bit-identical by construction. No densification or pruning (the count
    and order never change), every SH band trains from the first step, and the rates are
    constant: the means' is ``FitConfig.means_lr / FitConfig.sh0_lr x lr`` times the scene
    scale, the mean distance from the camera centres to the selection's centroid.

    Args:
        cloud: N Gaussians
        selection: bool [N], or float scores [N] in 0..1 (selected at >= ``HARD_THRESHOLD``)
        cameras: the views, 1 or more
        targets: one image per camera, RGB float in 0..1 or uint8 0..255  # [H, W, 3] each
        steps: optimisation steps (>= 1)
        lr: learning rate of the base colour (DC); the others keep FitConfig's ratio to it.
            None: 10 x FitConfig.sh0_lr (an edit runs hundreds of steps, not thousands)
        progress: called as ``progress(step, steps)`` after each step; an exception it raises
            stops the fit and propagates (the input cloud is untouched)
        backend: the ``render_splats`` backend
    Returns:
        the cloud with the selected Gaussians fitted (same count and order)
    """
    # 1. Arguments.
    index = _hard_index(cloud, selection)
    images = _check_targets(cameras, targets, cloud)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    config = FitConfig()
    lr = 10 * config.sh0_lr if lr is None else lr
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not (0 < lr < math.inf):
        raise ValueError(f"lr must be a positive finite float, got {lr!r}")
    if progress is not None and not callable(progress):
        raise ValueError(f"progress must be callable(step, steps) or None, got {progress!r}")

    # 2. The frozen cloud, and the selected rows as leaf tensors with their own rates.
    base = cloud.detach().clone()
    part = base.select(index)
    centre = part.means.to(_F64).mean(dim=0).cpu()
    scene = float(torch.stack([(c.centre - centre).norm() for c in cameras]).mean())
    factor = lr / config.sh0_lr
    rows = {
        "means": part.means,
        "quats": part.quats,
        "log_scales": part.log_scales,
        "opacity_logits": part.opacity_logits,
        "sh0": part.sh[:, :1],
        "shN": part.sh[:, 1:],
    }
    rates = {
        "means": config.means_lr * max(scene, 1e-6),
        "quats": config.quats_lr,
        "log_scales": config.scales_lr,
        "opacity_logits": config.opacity_lr,
        "sh0": config.sh0_lr,
        "shN": config.shN_lr,
    }
    params = {k: v.clone().requires_grad_(True) for k, v in rows.items()}
    optimizer = torch.optim.Adam(
        [{"params": [params[k]], "lr": rates[k] * factor} for k in params if params[k].numel()],
        eps=1e-15,
    )

    def current() -> SplatCloud:
        sh = torch.cat([params["sh0"], params["shN"]], dim=1)
        rows_cloud = SplatCloud(
            params["means"], params["quats"], params["log_scales"], params["opacity_logits"], sh
        )
        return _scatter(base, index, rows_cloud)

    # 3. The loop: one view per step, in turn.
    w = config.ssim_weight
    for step in range(1, steps + 1):
        view = (step - 1) % len(cameras)
        rendered = render_splats(current(), cameras[view], backend=backend).rgb
        target = images[view]
        loss = (1 - w) * (rendered - target).abs().mean() + w * (1 - ssim(rendered, target))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if progress is not None:
            progress(step, steps)

    with torch.no_grad():
        return current().detach()


# -- measuring an edit ----------------------------------------------------------------------------


def outside_psnr_db(
    before: SplatCloud,
    after: SplatCloud,
    selection_before: Selection,
    cameras: Sequence[Camera],
    *,
    backend: Backend = "auto",
) -> float:
    """PSNR (dB) between renders of the Gaussians outside the selection, before and after an
    edit: what the edit did to the rest of the cloud. ``math.inf`` when the renders are equal.

    Only the unselected Gaussians are drawn, from each camera, before and after (their images
    clamped to 0..1); the squared error is pooled over every pixel of every view. The
    unselected Gaussians of ``after`` are found by its size: ``len(after)`` equal to their
    count means ``after`` is exactly them (``delete``); ``len(after) >= len(before)`` means its
    first N rows are the edited cloud (``duplicate`` appends after them).

    Every op of this module leaves the unselected Gaussians bit-identical, so for ``delete``,
    ``recolor``, ``tint``, ``transform``, ``duplicate`` and ``optimize`` the result is infinite;
    a finite value flags an edit that leaked (a naive whole-cloud fit, say). A float selection
    reads as selected at >= ``HARD_THRESHOLD``; for a colour op with soft scores (which changes
    every Gaussian with a score above 0) pass ``scores > 0``.

    Args:
        before: the N Gaussians the selection was made of
        after: the edited cloud
        selection_before: bool [N], or float scores [N] in 0..1
        cameras: the views, 1 or more
        backend: the ``render_splats`` backend
    """
    index = _hard_index(before, selection_before)
    outside = torch.ones(len(before), dtype=torch.bool, device=before.device)
    outside[index] = False
    count = int(outside.sum())
    if len(after) == count:
        kept = after
    elif len(after) >= len(before):
        kept = after.select(slice(0, len(before))).select(outside.to(after.device))
    else:
        raise ValueError(
            f"after has {len(after)} Gaussians: expected {count} (the unselected ones, after "
            f"delete) or at least {len(before)} (the edited cloud first)"
        )
    if not cameras:
        raise ValueError("cameras must hold at least one Camera")
    old, new = before.select(outside), kept
    with torch.no_grad():
        a = [render_splats(old, c, backend=backend).rgb.clamp(0, 1).reshape(-1, 3) for c in cameras]
        b = [render_splats(new, c, backend=backend).rgb.clamp(0, 1).reshape(-1, 3) for c in cameras]
    return psnr(torch.cat(a).to(_F64).cpu(), torch.cat(b).to(_F64).cpu())


# -- plain references ---------------------------------------------------------------------------


def _tint_reference(
    cloud: SplatCloud, selection: Selection, color: Vector, amount: float
) -> SplatCloud:
    """``tint`` one Gaussian at a time, in Python loops: the tests' reference."""
    out = cloud.detach().clone()
    scores = _scores(cloud, selection)
    target = rgb_to_sh0(torch.as_tensor(color, dtype=cloud.dtype))
    for i in range(len(cloud)):
        w = amount * float(scores[i])
        if w == 0:
            continue
        for c in range(3):
            out.sh[i, 0, c] = cloud.sh[i, 0, c] + w * (target[c] - cloud.sh[i, 0, c])
            for k in range(1, cloud.sh.shape[1]):
                out.sh[i, k, c] = 0.0 if w == 1 else cloud.sh[i, k, c] * (1 - w)
    return out


def _transform_reference(
    cloud: SplatCloud,
    selection: Selection,
    *,
    translation: Vector | None = None,
    rotation: Vector | None = None,
    scale: float | Vector | None = None,
    pivot: Vector | None = None,
) -> SplatCloud:
    """``transform`` one Gaussian at a time in float64: the tests' reference.

    Independent of the fast path where it can be: the covariance A C A^T is diagonalised with
    ``eigh`` (not an SVD), and each Gaussian's SH is refitted by least squares so that its
    colour from R d equals its old colour from d, over 64 sample directions.
    """
    selected = _scores(cloud, selection) >= HARD_THRESHOLD
    src = cloud.detach().to("cpu", _F64)
    out = src.clone()
    t = _vector("translation", translation, 3, default=0.0)
    r = torch.eye(3, dtype=_F64) if rotation is None else _rotation_matrix(rotation)
    s = torch.ones(3, dtype=_F64) if scale is None else _scale_vector(scale)
    p = src.means[selected.cpu()].mean(dim=0) if pivot is None else _vector("pivot", pivot, 3)
    a = r @ torch.diag(s)
    gen = torch.Generator().manual_seed(1)
    dirs = torch.nn.functional.normalize(torch.randn(64, 3, generator=gen, dtype=_F64), dim=-1)
    degree = cloud.sh_degree
    y_old, y_new = sh_basis(dirs, degree), sh_basis(dirs @ r.T, degree)  # [64, K]
    for i in range(len(cloud)):
        if not selected[i]:
            continue
        out.means[i] = a @ (src.means[i] - p) + p + t
        g = quat_to_rotmat(src.quats[i : i + 1])[0] @ torch.diag(src.log_scales[i].exp())
        values, vectors = torch.linalg.eigh(a @ g @ g.T @ a.T)
        if torch.det(vectors) < 0:
            vectors[:, 0] = -vectors[:, 0]
        out.quats[i] = rotmat_to_quat(vectors) * src.quats[i].norm()
        out.log_scales[i] = 0.5 * values.log()
        out.sh[i] = torch.linalg.lstsq(y_new, y_old @ src.sh[i]).solution
    return out.to(cloud.device, cloud.dtype)


# -- helpers --------------------------------------------------------------------------------------


def _scores(cloud: SplatCloud, selection: Selection) -> torch.Tensor:
    """The selection as scores in 0..1 on the cloud's device, checked  # [N] float64"""
    sel = torch.as_tensor(selection)
    n = len(cloud)
    if sel.ndim != 1 or sel.shape[0] != n:
        raise ValueError(
            f"selection must be a bool mask or float scores of shape [{n}] (one per Gaussian of "
            f"the cloud), got shape {list(sel.shape)}"
        )
    if sel.dtype == torch.bool:
        return sel.to(device=cloud.device, dtype=_F64)
    if not sel.is_floating_point():
        raise ValueError(
            f"selection must be a bool mask or float scores in 0..1, got dtype {sel.dtype}"
        )
    scores = sel.to(device=cloud.device, dtype=_F64)
    if not bool(((scores >= 0) & (scores <= 1)).all()):
        raise ValueError("selection scores must lie in 0..1 (and not be NaN)")
    return scores


def _hard_index(cloud: SplatCloud, selection: Selection) -> torch.Tensor:
    """Indices of the selected Gaussians, ascending (scores: >= HARD_THRESHOLD)  # [M] long"""
    index = torch.nonzero(_scores(cloud, selection) >= HARD_THRESHOLD)[:, 0]
    if len(index) == 0:
        raise ValueError(
            f"the selection is empty (no Gaussian selected, or no score reaches {HARD_THRESHOLD})"
        )
    return index


def _soft_index(cloud: SplatCloud, selection: Selection) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the Gaussians with a score above 0, and their scores  # [M] long, [M]"""
    scores = _scores(cloud, selection)
    index = torch.nonzero(scores > 0)[:, 0]
    if len(index) == 0:
        raise ValueError("the selection is empty (every score is 0)")
    return index, scores[index].to(cloud.dtype)


def _scatter(base: SplatCloud, index: torch.Tensor, rows: SplatCloud) -> SplatCloud:
    """``base`` with ``rows`` written at ``index``, out of place (differentiable in ``rows``);
    every other row is a copy of ``base``'s."""
    return SplatCloud(
        *(b.index_put((index,), r) for b, r in zip(base._tensors(), rows._tensors(), strict=True))
    )


def _vector(name: str, value: Vector | None, size: int, *, default: float = 0.0) -> torch.Tensor:
    """A finite float64 CPU vector of ``size`` values (None: ``default`` in each), or a
    ValueError naming it."""
    if value is None:
        return torch.full((size,), default, dtype=_F64)
    try:
        v = _as_f64(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be {size} numbers, got {value!r}") from exc
    if tuple(v.shape) != (size,):
        raise ValueError(f"{name} must be {size} numbers, got shape {list(v.shape)}")
    if not bool(torch.isfinite(v).all()):
        raise ValueError(f"{name} must be finite, got {v.tolist()}")
    return v


def _as_f64(value: Vector) -> torch.Tensor:
    """Numbers as a float64 CPU tensor (TypeError or ValueError for what is not numbers)."""
    if torch.is_tensor(value):
        return value.detach().to("cpu", _F64)
    return torch.as_tensor(np.asarray(value, dtype=np.float64))


def _unit_float(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a number in 0..1, got {value!r}")
    return float(value)


def _scale_vector(scale: float | Vector) -> torch.Tensor:
    """A positive factor per axis  # [3] float64"""
    if isinstance(scale, bool):
        raise ValueError(f"scale must be a positive number or 3 of them, got {scale!r}")
    if isinstance(scale, numbers.Real):
        s = torch.full((3,), float(scale), dtype=_F64)
        if not math.isfinite(float(scale)):
            raise ValueError(f"scale must be finite, got {scale!r}")
    else:
        s = _vector("scale", scale, 3)
    if not bool((s > 0).all()):
        raise ValueError(f"scale must be positive (no mirroring or collapse), got {s.tolist()}")
    return s


def _rotation_matrix(rotation: Vector) -> torch.Tensor:
    """A quaternion (w, x, y, z) [4] or a proper rotation matrix [3, 3] as a matrix  # [3, 3]"""
    try:
        r = _as_f64(rotation)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"rotation must be a quaternion [4] or a matrix [3, 3], got {rotation!r}"
        ) from exc
    if not bool(torch.isfinite(r).all()):
        raise ValueError(f"rotation must be finite, got {r.tolist()}")
    if tuple(r.shape) == (4,):
        if float(r.norm()) < 1e-12:
            raise ValueError("rotation must be a non-zero quaternion (w, x, y, z), got zeros")
        return quat_to_rotmat(r[None])[0]
    if tuple(r.shape) == (3, 3):
        if not torch.allclose(r @ r.T, torch.eye(3, dtype=_F64), atol=1e-5):
            raise ValueError("rotation must be an orthonormal 3x3 matrix")
        if torch.det(r) < 0:
            raise ValueError("rotation must be proper (det +1); reflections would mirror the SH")
        return r
    raise ValueError(
        f"rotation must be a quaternion (w, x, y, z) [4] or a matrix [3, 3], got shape "
        f"{list(r.shape)}"
    )


def _linear_shapes(part: SplatCloud, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Orientations and log-scales of the Gaussians after the linear map ``a``  # [3, 3]

    The new covariance A R diag(s)^2 R^T A^T is U diag(sigma)^2 U^T for the SVD
    A R diag(s) = U diag(sigma) V^T; U is made proper by flipping a column if needed.
    Returns: quats (the stored norms kept)  # [M, 4]; log_scales  # [M, 3]
    """
    r_g = quat_to_rotmat(part.quats.to(_F64))  # [M, 3, 3]
    m = a.to(_F64) @ r_g * part.log_scales.to(_F64).exp()[:, None, :]  # [M, 3, 3]
    u, sigma, _ = torch.linalg.svd(m)
    flip = torch.ones_like(sigma)
    flip[:, 2] = torch.sign(torch.det(u))
    u = u * flip[:, None, :]
    quats = _rotmats_to_quats(u) * part.quats.to(_F64).norm(dim=-1, keepdim=True)
    return quats.to(part.dtype), sigma.log().to(part.dtype)


def _rotmats_to_quats(r: torch.Tensor) -> torch.Tensor:
    """Rotation matrices to unit (w, x, y, z) quaternions, each from its best-conditioned
    component (Shepperd's method)  # [M, 3, 3] -> [M, 4]"""
    m00, m01, m02 = r[:, 0, 0], r[:, 0, 1], r[:, 0, 2]
    m10, m11, m12 = r[:, 1, 0], r[:, 1, 1], r[:, 1, 2]
    m20, m21, m22 = r[:, 2, 0], r[:, 2, 1], r[:, 2, 2]
    squares = torch.stack(
        [1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22],
        dim=-1,
    )  # 4 w^2, 4 x^2, 4 y^2, 4 z^2
    candidates = torch.stack(
        [
            torch.stack([squares[:, 0], m21 - m12, m02 - m20, m10 - m01], dim=-1),
            torch.stack([m21 - m12, squares[:, 1], m01 + m10, m02 + m20], dim=-1),
            torch.stack([m02 - m20, m01 + m10, squares[:, 2], m12 + m21], dim=-1),
            torch.stack([m10 - m01, m02 + m20, m12 + m21, squares[:, 3]], dim=-1),
        ],
        dim=1,
    )  # [M, 4 candidates, 4]
    best = squares.argmax(dim=-1)
    q = candidates[torch.arange(len(r), device=r.device), best]
    q = torch.nn.functional.normalize(q, dim=-1)
    return torch.where(q[:, :1] < 0, -q, q)


def _check_targets(
    cameras: Sequence[Camera],
    targets: Sequence[torch.Tensor | np.ndarray],
    cloud: SplatCloud,
) -> list[torch.Tensor]:
    """The targets as [H, W, 3] in 0..1, in the cloud's dtype and on its device."""
    if not cameras or len(targets) != len(cameras):
        raise ValueError(
            f"targets must hold one image per camera and cameras at least one: got "
            f"{len(targets)} targets and {len(cameras)} cameras"
        )
    out = []
    for i, (image, camera) in enumerate(zip(targets, cameras, strict=True)):
        if not isinstance(camera, Camera):
            raise ValueError(f"cameras[{i}] must be a Camera, got {type(camera).__name__}")
        t = torch.as_tensor(image)
        expected = (camera.height, camera.width, 3)
        if tuple(t.shape) != expected:
            raise ValueError(
                f"targets[{i}] must have shape {list(expected)} (its camera's height, width, "
                f"RGB), got {list(t.shape)}"
            )
        if t.dtype == torch.uint8:
            t = t.to(_F64) / 255.0
        elif t.is_floating_point():
            if not bool(((t >= 0) & (t <= 1)).all()):
                raise ValueError(f"targets[{i}] must hold RGB in 0..1 (or be uint8)")
        else:
            raise ValueError(f"targets[{i}] must be float in 0..1 or uint8, got {t.dtype}")
        out.append(t.to(device=cloud.device, dtype=cloud.dtype))
    return out
