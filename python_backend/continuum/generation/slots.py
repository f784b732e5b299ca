"""The slots: what each kind of generator takes and gives, as checked plain data.

A request is built from JSON parameters (and, for slots that take an image, one ``uint8``
array) by ``parse_request``, which refuses anything malformed or out of range before a model
sees it. Every model of a slot takes that slot's request and returns its result:

| slot | request | result |
|---|---|---|
| ``text_to_image`` | prompt, negative_prompt, width, height, steps, guidance, seed | Image |
| ``image_edit`` | image, instruction, steps, guidance, image_guidance, seed | Image |
| ``image_to_video`` | image, frames, fps, steps, motion, seed | Video |
| ``motion`` | params, frames, fps, seed, scenario, target, origin | Trajectory |

``text_to_image`` may also carry an identity's reference image and a ``strength``: it then
generates from the reference (PROTOCOL.md 15).

``motion``: without a ``scenario`` (the default ""), ``params`` are the built-in ballistic
motion's (builtin.py). With one (``drop``, ``throw``, ``ramp``, ``collide``:
``physmotion.scenarios``), ``params`` are that scenario's physical parameters, checked against
their ranges with the defaults filled in; ``origin`` (metres, glTF axes, default 0, 0, 0) is
where the scenario's frame sits in the world, and ``target`` (world x, y, z in metres, default
none) a point the first body should pass within 0.15 m of. A Trajectory's ``end_velocity`` is
each body's velocity at its last frame (m/s, glTF axes, three per body in channel order), for
handing the motion over to live physics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from continuum.errors import GenerationError

SLOTS = ("text_to_image", "image_edit", "image_to_video", "motion")
MAX_SIDE = 2048
MAX_STEPS = 500
MAX_FRAMES = 256
MAX_PROMPT_CHARS = 4000
MAX_SEED = 2**63 - 1
MAX_POSITION = 1e4  # m: motion targets and origins


@dataclass(frozen=True)
class TextToImage:
    prompt: str
    negative_prompt: str = ""
    width: int = 512
    height: int = 512
    steps: int = 20
    guidance: float = 7.5
    seed: int = 0
    # An identity's reference image to generate from (image to image) instead of from noise.
    reference: np.ndarray | None = field(default=None, repr=False)  # uint8 [H, W, 3]
    strength: float = 0.75  # how far from the reference: 0 keeps it, 1 ignores it


@dataclass(frozen=True)
class ImageEdit:
    image: np.ndarray = field(repr=False)  # uint8 [H, W, 3]
    instruction: str = ""
    steps: int = 20
    guidance: float = 7.5
    image_guidance: float = 1.5
    seed: int = 0


@dataclass(frozen=True)
class ImageToVideo:
    image: np.ndarray = field(repr=False)  # uint8 [H, W, 3]
    frames: int = 14
    fps: int = 7
    steps: int = 20
    motion: float = 127.0  # SVD's motion bucket: more is more motion
    seed: int = 0


@dataclass(frozen=True)
class Motion:
    params: dict[str, float] = field(default_factory=dict)  # physical parameters by name
    frames: int = 60
    fps: int = 30
    seed: int = 0
    scenario: str = ""  # "": the built-in ballistic motion; else a physmotion scenario
    target: tuple[float, float, float] | None = None  # m, world, glTF axes
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)  # m: the scenario frame in the world


Request = TextToImage | ImageEdit | ImageToVideo | Motion


@dataclass(frozen=True)
class Image:
    pixels: np.ndarray = field(repr=False)  # uint8 [H, W, 3], sRGB


@dataclass(frozen=True)
class Video:
    frames: np.ndarray = field(repr=False)  # uint8 [T, H, W, 3], sRGB
    fps: int = 7


@dataclass(frozen=True)
class Trajectory:
    """A motion: ``values[t]`` is the state at frame t, columns named by ``channels``."""

    values: np.ndarray = field(repr=False)  # float32 [T, D]
    channels: tuple[str, ...] = ()
    fps: int = 30
    end_velocity: tuple[float, ...] = ()  # m/s at the last frame: vx, vy, vz per body


Result = Image | Video | Trajectory

REQUESTS: dict[str, type] = {
    "text_to_image": TextToImage,
    "image_edit": ImageEdit,
    "image_to_video": ImageToVideo,
    "motion": Motion,
}


def check_slot(slot: Any) -> str:
    """``slot`` if it names a slot; raises GenerationError listing them otherwise."""
    if slot not in SLOTS:
        raise GenerationError(f"unknown slot {slot!r:.40}; the slots are {', '.join(SLOTS)}")
    return slot


def parse_request(
    slot: str,
    params: Any,
    image: np.ndarray | None = None,
    *,
    reference: np.ndarray | None = None,
) -> Request:
    """The request of ``slot`` that the JSON ``params`` (and ``image``) describe.

    ``reference`` is an identity's reference image (PROTOCOL.md 15): the input image of slots
    that take one when ``image`` is None, and what ``text_to_image`` generates from.

    Raises:
        GenerationError: an unknown slot or parameter, a value of the wrong type or out of
            range, a missing or malformed image; the message names it as ``<slot>.<name>``.
    """
    check_slot(slot)
    if not isinstance(params, dict):
        raise GenerationError(f"{slot}: params must be an object, got {type(params).__name__}")
    cls = REQUESTS[slot]
    known = set(cls.__dataclass_fields__) - {"image", "reference"}
    if image is None and reference is not None and takes_image(slot):
        image = reference
    unknown = sorted(set(params) - known)
    if unknown:
        raise GenerationError(f"{slot}: unknown params {unknown}; known: {sorted(known)}")
    p = _Params(slot, params)
    if slot == "text_to_image":
        return TextToImage(
            prompt=p.text("prompt", required=True),
            negative_prompt=p.text("negative_prompt"),
            width=p.side("width"),
            height=p.side("height"),
            steps=p.integer("steps", 1, MAX_STEPS, 20),
            guidance=p.number("guidance", 0.0, 50.0, 7.5),
            seed=p.integer("seed", 0, MAX_SEED, 0),
            reference=None if reference is None else _image(slot, reference),
            strength=p.number("strength", 0.0, 1.0, 0.75),
        )
    if slot == "image_edit":
        return ImageEdit(
            image=_image(slot, image),
            instruction=p.text("instruction", required=True),
            steps=p.integer("steps", 1, MAX_STEPS, 20),
            guidance=p.number("guidance", 0.0, 50.0, 7.5),
            image_guidance=p.number("image_guidance", 0.0, 50.0, 1.5),
            seed=p.integer("seed", 0, MAX_SEED, 0),
        )
    if slot == "image_to_video":
        return ImageToVideo(
            image=_image(slot, image),
            frames=p.integer("frames", 1, MAX_FRAMES, 14),
            fps=p.integer("fps", 1, 120, 7),
            steps=p.integer("steps", 1, MAX_STEPS, 20),
            motion=p.number("motion", 0.0, 1023.0, 127.0),
            seed=p.integer("seed", 0, MAX_SEED, 0),
        )
    scenario = p.text("scenario")
    physical = p.floats("params")
    if scenario:
        from continuum.generation.physmotion.scenarios import check_params  # numpy only

        physical = check_params(scenario, physical)
    elif params.get("target") is not None or params.get("origin") is not None:
        raise GenerationError(
            "motion: target and origin need a scenario (drop, throw, ramp or collide)"
        )
    target = p.point("target")
    return Motion(
        params=physical,
        frames=p.integer("frames", 1, 10_000, 60),
        fps=p.integer("fps", 1, 1000, 30),
        seed=p.integer("seed", 0, MAX_SEED, 0),
        scenario=scenario,
        target=target,
        origin=p.point("origin") or (0.0, 0.0, 0.0),
    )


def takes_image(slot: str) -> bool:
    return "image" in REQUESTS[check_slot(slot)].__dataclass_fields__


class _Params:
    def __init__(self, slot: str, params: dict[str, Any]) -> None:
        self.slot, self.params = slot, params

    def _fail(self, name: str, wanted: str, value: Any) -> GenerationError:
        return GenerationError(f"{self.slot}.{name} must be {wanted}, got {value!r:.60}")

    def text(self, name: str, *, required: bool = False) -> str:
        value = self.params.get(name)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            raise self._fail(name, "a non-empty string" if required else "a string", value)
        if len(value) > MAX_PROMPT_CHARS:
            raise self._fail(name, f"at most {MAX_PROMPT_CHARS} characters", f"{len(value)}")
        return value

    def integer(self, name: str, lo: int, hi: int, default: int) -> int:
        value = self.params.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self._fail(name, f"an integer in {lo}..{hi}", value)
        return value

    def side(self, name: str) -> int:
        value = self.integer(name, 8, MAX_SIDE, 512)
        if value % 8:
            raise self._fail(name, "a multiple of 8 (the latent grid)", value)
        return value

    def number(self, name: str, lo: float, hi: float, default: float) -> float:
        value = self.params.get(name, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not lo <= value <= hi
        ):
            raise self._fail(name, f"a number in [{lo:g}, {hi:g}]", value)
        return float(value)

    def point(self, name: str) -> tuple[float, float, float] | None:
        value = self.params.get(name)
        if value is None:
            return None
        if (
            not isinstance(value, list | tuple)
            or len(value) != 3
            or not all(
                isinstance(v, int | float)
                and not isinstance(v, bool)
                and math.isfinite(v)
                and abs(v) <= MAX_POSITION
                for v in value
            )
        ):
            raise self._fail(name, f"3 finite numbers (x, y, z) within {MAX_POSITION:g} m", value)
        return (float(value[0]), float(value[1]), float(value[2]))

    def floats(self, name: str) -> dict[str, float]:
        value = self.params.get(name, {})
        if not isinstance(value, dict) or len(value) > 64:
            raise self._fail(name, "an object of at most 64 named numbers", value)
        for key, v in value.items():
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise self._fail(f"{name}.{key}", "a finite number", v)
        return {str(k): float(v) for k, v in value.items()}


def _image(slot: str, image: np.ndarray | None) -> np.ndarray:
    if image is None:
        raise GenerationError(f"{slot} needs an input image: one u8 blob of shape [H, W, 3]")
    if (
        not isinstance(image, np.ndarray)
        or image.dtype != np.uint8
        or image.ndim != 3
        or image.shape[2] != 3
        or not 8 <= image.shape[0] <= MAX_SIDE
        or not 8 <= image.shape[1] <= MAX_SIDE
    ):
        shape = getattr(image, "shape", None)
        raise GenerationError(
            f"{slot}.image must be uint8 [H, W, 3] with H and W in 8..{MAX_SIDE}, got "
            f"{getattr(image, 'dtype', type(image).__name__)} {shape}"
        )
    return np.ascontiguousarray(image)
