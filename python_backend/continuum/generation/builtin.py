"""Built-in models: what each slot produces when no model folder is bound (no weights at all).

They exist so that a scene plays, and the whole generation path (jobs, progress, cancel, hot
reload, the engine's panels) works, on a machine without models. What they make:

- ``text_to_image``: a smooth abstract colour field, deterministic in (prompt, seed): the prompt's
  colour words (red, orange, yellow, green, cyan, blue, purple, pink, white, black, grey, brown)
  set the palette, its other words the layout; one octave of detail per step. With a reference
  image (an identity's) the palette is the reference's dark, middle and light colours instead,
  blended with the prompt's by ``1 - strength``.
- ``image_edit``: the instruction's keywords, applied in order: brighter, darker, invert,
  grayscale (greyscale), blur, sharpen, flip (upside down), mirror, warmer, cooler, and a colour
  word tints towards that colour. An instruction without any of them is an error naming them.
- ``image_to_video``: a slow zoom and pan over the image (a Ken Burns move) whose direction
  follows the seed and whose amount follows ``motion``.
- ``motion``: without a scenario, a ballistic trajectory with bounces: ``params`` x, y, z (m),
  vx, vy, vz (m/s), gravity (m/s^2, default 9.81), restitution (0..1, default 0.5) and floor
  (m, default 0); channels x, y, z, +Y up. With a scenario (slots.py), built-in means
  re-simulation: the exact MuJoCo rollout of that scenario and its parameters
  (``physmotion.data.rollout``) at the request's frames and fps, moved to ``origin``; channels
  x, y, z (and x2, y2, z2 for ``collide``'s second ball). The ``target`` is not steered towards
  (physics decides); a physmotion model folder samples towards it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from continuum.errors import GenerationError
from continuum.generation.slots import (
    Image,
    ImageEdit,
    ImageToVideo,
    Motion,
    Request,
    Result,
    TextToImage,
    Trajectory,
    Video,
)

Progress = Callable[[int, int], None]  # (steps done, steps); raises to stop the job

COLOURS = {
    "red": (0.85, 0.15, 0.12),
    "orange": (0.95, 0.55, 0.1),
    "yellow": (0.95, 0.85, 0.2),
    "green": (0.2, 0.7, 0.3),
    "cyan": (0.2, 0.8, 0.85),
    "blue": (0.15, 0.3, 0.85),
    "purple": (0.55, 0.25, 0.75),
    "pink": (0.95, 0.5, 0.7),
    "white": (0.95, 0.95, 0.95),
    "black": (0.05, 0.05, 0.06),
    "grey": (0.5, 0.5, 0.5),
    "gray": (0.5, 0.5, 0.5),
    "brown": (0.45, 0.3, 0.18),
}
EDIT_WORDS = (
    "brighter",
    "darker",
    "invert",
    "grayscale",
    "greyscale",
    "blur",
    "sharpen",
    "flip",
    "mirror",
    "warmer",
    "cooler",
    *COLOURS,
)


class BuiltinModel:
    """The built-in model of one slot (see the module docstring)."""

    def __init__(self, slot: str) -> None:
        self.slot = slot

    def describe(self) -> dict[str, Any]:
        return {"name": f"builtin {self.slot}", "pipeline": "builtin", "device": "cpu"}

    def run(self, request: Request, progress: Progress) -> Result:
        if isinstance(request, TextToImage):
            return Image(text_to_image(request, progress))
        if isinstance(request, ImageEdit):
            return Image(image_edit(request, progress))
        if isinstance(request, ImageToVideo):
            return Video(image_to_video(request, progress), fps=request.fps)
        if isinstance(request, Motion):
            return motion(request, progress)
        raise GenerationError(f"builtin {self.slot}: not a request of a slot: {request!r:.80}")

    def close(self) -> None:
        """Nothing to free."""


def _rng(*parts: object) -> np.random.Generator:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def text_to_image(request: TextToImage, progress: Progress) -> np.ndarray:
    """uint8 [H, W, 3]: a colour field deterministic in the prompt and the seed."""
    words = _words(request.prompt)
    palette = [COLOURS[w] for w in words if w in COLOURS] or [
        tuple(_rng(request.prompt, "palette", i).uniform(0.1, 0.9, 3)) for i in range(3)
    ]
    while len(palette) < 3:
        palette.append(tuple(np.clip(np.array(palette[-1]) * 0.6 + 0.2, 0, 1)))
    if request.reference is not None:
        own = _reference_palette(request.reference)
        s = request.strength
        palette = [
            tuple((1 - s) * o + s * np.array(p)) for o, p in zip(own, palette[:3], strict=True)
        ]
    rng = _rng(" ".join(w for w in words if w not in COLOURS), request.seed)
    h, w = request.height, request.width
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    x, y = x / max(w, h), y / max(w, h)
    field = np.zeros((3, h, w), np.float32)  # a weight per palette colour
    for step in range(request.steps):
        octave = min(step, 5)
        freq = 2.0**octave * rng.uniform(1.0, 3.0, (3, 2)).astype(np.float32)
        phase = rng.uniform(0, 2 * np.pi, 3).astype(np.float32)
        amplitude = 0.5**octave
        for k in range(3):
            field[k] += amplitude * np.sin(
                freq[k, 0] * x * 2 * np.pi + freq[k, 1] * y * 2 * np.pi + phase[k]
            )
        progress(step + 1, request.steps)
    weights = np.exp(2.0 * field)
    weights /= weights.sum(axis=0, keepdims=True)
    colours = np.array(palette[:3], np.float32)  # [3, 3]
    image = np.einsum("khw,kc->hwc", weights, colours)
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)


def _reference_palette(image: np.ndarray) -> list[np.ndarray]:
    """The mean colours of a reference image's darkest, middle and lightest thirds  # 3 x [3]"""
    pixels = image.reshape(-1, 3).astype(np.float32) / 255.0
    order = np.argsort(pixels @ np.array([0.2126, 0.7152, 0.0722], np.float32), kind="stable")
    return [pixels[part].mean(axis=0) for part in np.array_split(order, 3)]


def image_edit(request: ImageEdit, progress: Progress) -> np.ndarray:
    """uint8 [H, W, 3]: the instruction's keyword edits applied in order."""
    ops = [w for w in _words(request.instruction) if w in EDIT_WORDS]
    if not ops:
        raise GenerationError(
            f"the built-in image_edit understands the words {', '.join(EDIT_WORDS)}; "
            f"{request.instruction!r:.80} has none (bind an InstructPix2Pix model for free-form "
            "instructions)"
        )
    image = request.image.astype(np.float32) / 255.0
    for i, op in enumerate(ops):
        image = _edit(image, op)
        progress(i + 1, len(ops))
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)


def _edit(image: np.ndarray, op: str) -> np.ndarray:
    if op == "brighter":
        return image * 1.25 + 0.05
    if op == "darker":
        return image * 0.75
    if op == "invert":
        return 1.0 - image
    if op in ("grayscale", "greyscale"):
        return np.repeat(image @ np.array([[0.2126], [0.7152], [0.0722]], np.float32), 3, axis=2)
    if op in ("blur", "sharpen"):
        padded = np.pad(image, ((1, 1), (1, 1), (0, 0)), mode="edge")
        h, w = image.shape[:2]
        blurred = sum(padded[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)) / 9
        return blurred if op == "blur" else image + (image - blurred)
    if op == "flip":
        return image[::-1].copy()
    if op == "mirror":
        return image[:, ::-1].copy()
    if op == "warmer":
        return image * np.array([1.1, 1.0, 0.88], np.float32)
    if op == "cooler":
        return image * np.array([0.88, 1.0, 1.1], np.float32)
    return image * 0.6 + np.array(COLOURS[op], np.float32) * 0.4  # a colour word: tint


def image_to_video(request: ImageToVideo, progress: Progress) -> np.ndarray:
    """uint8 [T, H, W, 3]: a zoom and pan over the image."""
    image = request.image.astype(np.float32)
    h, w = image.shape[:2]
    rng = _rng("video", request.seed)
    direction = rng.normal(size=2)
    direction /= np.linalg.norm(direction) + 1e-9
    amount = 0.05 + 0.25 * request.motion / 1023.0  # of the frame, over the whole clip
    frames = np.empty((request.frames, h, w, 3), np.uint8)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    for t in range(request.frames):
        s = t / max(request.frames - 1, 1)
        zoom = 1.0 + amount * s
        cx = (w - 1) / 2 + direction[0] * amount * s * w / 2
        cy = (h - 1) / 2 + direction[1] * amount * s * h / 2
        sx = np.clip((xs - (w - 1) / 2) / zoom + cx, 0, w - 1)
        sy = np.clip((ys - (h - 1) / 2) / zoom + cy, 0, h - 1)
        frames[t] = _bilinear(image, sx, sy)
        progress(t + 1, request.frames)
    return frames


def _bilinear(image: np.ndarray, sx: np.ndarray, sy: np.ndarray) -> np.ndarray:
    x0, y0 = np.floor(sx).astype(np.int64), np.floor(sy).astype(np.int64)
    x1 = np.minimum(x0 + 1, image.shape[1] - 1)
    y1 = np.minimum(y0 + 1, image.shape[0] - 1)
    fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return (top * (1 - fy) + bottom * fy + 0.5).astype(np.uint8)


def motion(request: Motion, progress: Progress) -> Trajectory:
    """A ballistic trajectory with bounces, or a scenario's re-simulation (see the module
    docstring)."""
    if request.scenario:
        from continuum.generation.physmotion.data import rollout  # MuJoCo

        r = rollout(
            request.scenario,
            request.params,
            frames=request.frames,
            fps=request.fps,
            progress=progress,
        )
        bodies = r.positions.shape[1]
        values = (r.positions + np.asarray(request.origin, np.float32)).reshape(request.frames, -1)
        return Trajectory(
            values.astype(np.float32),
            ("x", "y", "z", "x2", "y2", "z2")[: 3 * bodies],
            request.fps,
            tuple(float(v) for v in r.end_velocity.ravel()),
        )
    p = request.params
    position = np.array([p.get("x", 0.0), p.get("y", 1.0), p.get("z", 0.0)], np.float64)
    velocity = np.array([p.get("vx", 0.0), p.get("vy", 0.0), p.get("vz", 0.0)], np.float64)
    gravity = p.get("gravity", 9.81)
    restitution = min(max(p.get("restitution", 0.5), 0.0), 1.0)
    floor = p.get("floor", 0.0)
    dt = 1.0 / request.fps
    values = np.empty((request.frames, 3), np.float32)
    for t in range(request.frames):
        values[t] = position
        end_velocity = tuple(float(v) for v in velocity)  # the velocity at frame t
        velocity[1] -= gravity * dt
        position += velocity * dt
        if position[1] < floor:
            position[1] = floor + (floor - position[1]) * restitution
            velocity[1] = -velocity[1] * restitution
        if t % 64 == 63 or t == request.frames - 1:
            progress(t + 1, request.frames)
    return Trajectory(values, ("x", "y", "z"), request.fps, end_velocity)
