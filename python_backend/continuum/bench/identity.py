"""``continuum bench identity``: re-identification under a slowly changing appearance, by bank
policy, and the cost of updating and querying the identity memory.

**The entities** are ``entities`` (8) real photos that scikit-image ships (``IMAGES``, in this
order): ``chelsea`` (a cat), ``coffee`` (a cup), ``astronaut``, ``rocket``,
``hubble_deep_field``, ``immunohistochemistry``, ``retina`` and ``camera`` (a grey photo,
repeated into RGB). Only one grey photo: the appearance descriptor tells grey photos apart
poorly (camera, coins, page, moon and brick score 0.82..0.98 with each other). Each photo is
resized (Lanczos) to ``side`` (192) pixels on its longer side. Their originals score 0.35..0.86
against each other (closest: coffee-retina 0.86, chelsea-immunohistochemistry 0.85).

**The walk.** Each entity's appearance is a bounded random walk away from its original, one
step per time step: every parameter below moves by a Gaussian step (its ``sigma``) and reflects
off its bounds, and the view is drawn from the original with the current parameters. So each
view is a small change on top of the previous one, and after ``steps`` steps the parameters
have spread over their whole range (late views are far from the original):

- pose: rotation (+-20 degrees, step 1.2), zoom (x e^+-0.25, step 0.015 in log), translation
  (+-12 % of the side, step 0.8 %), perspective (keystone in x and y, a side shortened by up
  to about 25 %, step 2 %); outside pixels mirror the image;
- lighting: gamma (e^+-0.4, step 0.025 in log), gain (e^+-0.35, step 0.02 in log), colour
  temperature (red up and blue down by up to +-20 %, step 1.2 %);
- re-synthesis: hue rotation about the grey axis (+-25 degrees, step 1.5), saturation
  (e^+-0.3, step 0.02 in log), Gaussian blur (sigma 0..2 pixels, step 0.12), fresh Gaussian
  noise each view (std 0..12 of 255, step 0.75), a JPEG round trip (quality 95 down to 25,
  step 4);
- occlusion: occasionally (probability 0.03 per step, at most 2 at a time) a rectangle of a
  random solid colour appears small (5..10 % of each side), then drifts, grows and shrinks
  (2 % per step, up to 35 % of each side) and goes when it shrinks away (below 3 %).

Consecutive views score a median 0.996 with each other (``step_similarity_p50``; 5th
percentile about 0.98, ``step_similarity_p5``: where occluders come and go), while their
similarity to the original falls to about 0.8 by the end (``decay_to_original``). One ``seed``
(0) fixes every walk.

**The policies.** Three registries (``Identities``), one per policy, with the same appearance
bank settings: ``DEFAULT_CONFIGS["appearance"]`` (merge 0.02, novelty 0.05, min_quality 0.3)
with ``policy`` set and ``capacity`` (8). Note that ``BankConfig(policy=..., capacity=...)``
alone would not do: its own defaults (merge 0.06, novelty 0.12) are not the appearance ones.
Each entity is registered with ONE reference, its original's embedding. Then for each time
step and each entity in turn (interleaved): the view is embedded (``embedder("appearance")``),
re-identified among all entities (``Identities.reidentify``, top-1), scored against the true
entity's bank (its best slot, before updating), and then the true entity's bank is updated with
it as a tracker would (``Identities.observe`` with the entity named and the embedder's quality),
except for the single-reference policy, which is never updated.

- ``reid_acc_adaptive``, ``reid_acc_fifo``, ``reid_acc_single_ref``: the fraction of views
  (``entities`` x ``steps``) whose top-1 match is the true entity.
- ``decay_adaptive``, ``decay_fifo``, ``decay_single_ref``: the similarity of the view to the
  true entity's bank (best slot, before the update) against time: the mean over entities and
  over each of ``points`` (10) equal windows of the sequence. ``decay_to_original``: the same
  against the original's embedding (how far the walk went; equal to ``decay_single_ref``).
- ``reid_acc_adaptive_id_switch``, ``reid_acc_fifo_id_switch``: the same views, but the
  tracker names the wrong entity (another one, at random) for ``id_switch`` (5 %) of the
  updates: what a bank's update rule does with contaminating observations.
- ``reid_acc_adaptive_tuned``, ``decay_adaptive_tuned``: the adaptive policy with ``tuned``
  settings (merge 0.01, novelty 0.02: slots follow the walk more closely), beside the defaults.
- ``updates_adaptive``: what the adaptive updates did (``Update.action`` counts).

**Faces.** The astronaut photo (the only face in scikit-image's photos) at its full 512 x 512
walks ``face_steps`` (60) steps of the same walk (seed + 2), each step sqrt(steps /
face_steps) times as large so that it spreads as far as the appearance walk, seen by
``embedder("face")``. ``face_detect_rate`` is the fraction of views in which a face was found;
``face_similarity_decay`` gives, over ``points`` equal windows, the mean similarity of the
found faces to the original face (``original``) and to an adaptive face bank
(``DEFAULT_CONFIGS["face"]``, ``capacity`` slots) registered with the original and updated with
every found face (``adaptive``, best slot before the update); a window without a face is null.

**Speed.** A registry of ``n`` memories (10^3, 10^4, 10^5; exactly ``n // 32`` appearance
banks of capacity 32, 992, 9984 and 99 968 slots), each bank full: one pinned reference and 31
unpinned slots, all random unit 256-D vectors (seed + 3). Each figure is the mean over
``timed`` (300) calls, with numpy's BLAS threads as they are (``OPENBLAS_NUM_THREADS``):

- ``update_us_<n>``: the mean microseconds of one ``IdentityBank.update`` called on the bank
  directly, with a random unit vector on a random bank: always the insert path with eviction
  (the dearest one), without the registry's lock and event.
- ``query_us_<n>``: the mean microseconds of one ``Identities.reidentify`` (top 5 of all banks).
- ``observe_us_<n>``: the mean microseconds of one ``Identities.observe`` with the entity named
  (re-identification, the update and the ``IdentitySet`` event with the bank's JSON).

Context figures: ``entities``, ``steps``, ``capacity``, ``images``, ``side``, ``seed``,
``id_switch``, ``tuned``, ``embed_ms`` (one appearance ``observe`` of a view, mean),
``render_ms`` (drawing one view), ``face_steps``, ``face_ms`` (one ``FaceEmbedder.observe``),
``seconds``.
"""

from __future__ import annotations

import io
import math
import time
from collections import Counter
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageFilter

from continuum.errors import NoFaceError
from continuum.identity import BankConfig, Identities
from continuum.identity.embedders import embedder
from continuum.identity.registry import DEFAULT_CONFIGS

IMAGES = (
    "chelsea",
    "coffee",
    "astronaut",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "camera",
)
POLICIES = {"adaptive": "adaptive", "fifo": "fifo", "single_ref": "single"}
TUNED = {"merge": 0.01, "novelty": 0.02}


@dataclass(frozen=True)
class _Param:
    """One walked parameter: where it starts, its bounds and its step (a Gaussian's sigma)."""

    start: float
    low: float
    high: float
    sigma: float


# Keystone ("tilt") is the projective term per pixel of a 192-pixel image: 0.0015 shortens the
# far side by about 25 %; it is scaled to other sizes.
WALK = {
    "rotate": _Param(0.0, -20.0, 20.0, 1.2),  # degrees
    "log_zoom": _Param(0.0, -0.25, 0.25, 0.015),
    "shift_x": _Param(0.0, -0.12, 0.12, 0.008),  # of the width
    "shift_y": _Param(0.0, -0.12, 0.12, 0.008),
    "tilt_x": _Param(0.0, -0.0015, 0.0015, 0.0001),
    "tilt_y": _Param(0.0, -0.0015, 0.0015, 0.0001),
    "log_gamma": _Param(0.0, -0.4, 0.4, 0.025),
    "log_gain": _Param(0.0, -0.35, 0.35, 0.02),
    "temperature": _Param(0.0, -0.2, 0.2, 0.012),
    "hue": _Param(0.0, -25.0, 25.0, 1.5),  # degrees
    "log_saturation": _Param(0.0, -0.3, 0.3, 0.02),
    "blur": _Param(0.0, 0.0, 2.0, 0.12),  # pixels at 192
    "noise": _Param(0.0, 0.0, 12.0, 0.75),  # of 255
    "jpeg": _Param(95.0, 25.0, 95.0, 4.0),  # quality
}
OCCLUDERS = 2  # at most at a time
OCCLUDER_APPEAR = 0.03  # per step
OCCLUDER_STEP = 0.02  # position and size, of the side
OCCLUDER_MAX, OCCLUDER_GONE = 0.35, 0.03  # sides, of the image's


def bench_identity(
    *,
    entities: int = 8,
    steps: int = 200,
    capacity: int = 8,
    points: int = 10,
    side: int = 192,
    id_switch: float = 0.05,
    face_steps: int = 60,
    memories: tuple[int, ...] = (1000, 10_000, 100_000),
    timed: int = 300,
    seed: int = 0,
) -> dict:
    from skimage import data

    started = time.perf_counter()
    if not 1 <= entities <= len(IMAGES) or steps < points or face_steps < points:
        raise ValueError(
            f"need 1 <= entities <= {len(IMAGES)} and steps, face_steps >= points, got "
            f"entities={entities}, steps={steps}, face_steps={face_steps}, points={points}"
        )
    names = IMAGES[:entities]
    appearance = embedder("appearance")
    rng = np.random.default_rng(seed)

    # 1. The originals and their walks; every view is drawn and embedded once, up front (the
    #    walk does not depend on the banks), so every policy sees the same views.
    originals = [_photo(getattr(data, name)(), side) for name in names]
    references = np.stack([appearance.observe(image).vector for image in originals])  # [E, D]
    walks = [_Walk(image, np.random.default_rng(rng.integers(2**63))) for image in originals]
    vectors = np.zeros((steps, entities, appearance.dim), np.float32)  # [T, E, D]
    qualities = np.zeros((steps, entities))
    render_s = embed_s = 0.0
    for t in range(steps):
        for e, walk in enumerate(walks):
            start = time.perf_counter()
            view = walk.step()
            middle = time.perf_counter()
            observation = appearance.observe(view)
            embed_s += time.perf_counter() - middle
            render_s += middle - start
            vectors[t, e], qualities[t, e] = observation.vector, observation.quality
    step_similarity = np.einsum("ted,ted->te", vectors[1:], vectors[:-1]).ravel()
    to_original = np.einsum("ted,ed->te", vectors, references)  # [T, E]

    # 2. Each policy over the same views, with the default appearance settings.
    base = replace(DEFAULT_CONFIGS["appearance"], capacity=capacity)
    truth = np.broadcast_to(np.arange(entities), (steps, entities))
    result: dict = {}
    actions: Counter = Counter()
    for key, policy in POLICIES.items():
        run = _track(names, references, vectors, qualities, replace(base, policy=policy), truth)
        result[f"reid_acc_{key}"] = run["accuracy"]
        result[f"decay_{key}"] = _windows(run["similarity"], points)
        if policy == "adaptive":
            actions = run["actions"]
    result["decay_to_original"] = _windows(to_original, points)

    # 3. Variants: a tracker that sometimes names the wrong entity; tuned adaptive settings.
    switch_rng = np.random.default_rng(seed + 1)
    named = truth.copy()
    wrong = switch_rng.random((steps, entities)) < id_switch
    others = (truth + switch_rng.integers(1, max(entities, 2), (steps, entities))) % entities
    named[wrong] = others[wrong]
    for key in ("adaptive", "fifo"):
        config = replace(base, policy=POLICIES[key])
        run = _track(names, references, vectors, qualities, config, named)
        result[f"reid_acc_{key}_id_switch"] = run["accuracy"]
    tuned = _track(names, references, vectors, qualities, replace(base, **TUNED), truth)
    result["reid_acc_adaptive_tuned"] = tuned["accuracy"]
    result["decay_adaptive_tuned"] = _windows(tuned["similarity"], points)
    result["updates_adaptive"] = dict(sorted(actions.items()))

    # 4. A face under the same kind of walk.
    scale = math.sqrt(steps / face_steps)
    result.update(_face_walk(data.astronaut(), face_steps, points, capacity, seed, scale))

    # 5. Update and query time against the number of memories.
    for n in memories:
        result.update(_speed(n, timed, seed))

    result.update(
        {
            "step_similarity_p50": round(float(np.median(step_similarity)), 4),
            "step_similarity_p5": round(float(np.percentile(step_similarity, 5)), 4),
            "entities": entities,
            "steps": steps,
            "capacity": capacity,
            "images": list(names),
            "side": side,
            "seed": seed,
            "id_switch": id_switch,
            "tuned": TUNED,
            "embed_ms": round(embed_s / (steps * entities) * 1e3, 3),
            "render_ms": round(render_s / (steps * entities) * 1e3, 3),
            "seconds": round(time.perf_counter() - started, 1),
        }
    )
    return result


def _track(
    names: tuple[str, ...],
    references: np.ndarray,
    vectors: np.ndarray,
    qualities: np.ndarray,
    config: BankConfig,
    named: np.ndarray,
) -> dict:
    """Re-identify every view, then update the bank of the entity ``named`` [T, E] (indices)
    with it (the single policy's ``update`` leaves its bank as it is).

    Returns the top-1 accuracy, each view's similarity to its true entity's bank [T, E] and the
    update actions."""
    identities = Identities(configs={"appearance": config})
    for name, reference in zip(names, references, strict=True):
        identities.register(name, "appearance", reference[None])
    steps, entities = named.shape
    similarity = np.zeros((steps, entities))
    hits = 0
    actions: Counter = Counter()
    for t in range(steps):
        for e, name in enumerate(names):
            vector = vectors[t, e]
            top = identities.reidentify("appearance", vector, k=1)
            hits += top[0][0] == name
            similarity[t, e] = identities.bank(name).similarity(vector)
            recognition, _ = identities.observe(
                "appearance", vector, entity=names[named[t, e]], quality=float(qualities[t, e])
            )
            actions[recognition.update.action] += 1
    return {
        "accuracy": round(hits / (steps * entities), 4),
        "similarity": similarity,
        "actions": actions,
    }


def _windows(values: np.ndarray, points: int) -> list[float | None]:
    """The mean of ``values`` [T, ...] over each of ``points`` equal windows of T (NaN ignored;
    None for a window without a value)."""
    out: list[float | None] = []
    for window in np.array_split(np.asarray(values, np.float64), points):
        finite = window[np.isfinite(window)]
        out.append(round(float(finite.mean()), 4) if finite.size else None)
    return out


def _photo(image: np.ndarray, side: int) -> np.ndarray:
    """A scikit-image photo as uint8 [H, W, 3] with its longer side ``side`` (grey repeated)."""
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    picture = Image.fromarray(np.ascontiguousarray(image[:, :, :3]))
    scale = side / max(picture.size)
    size = (round(picture.size[0] * scale), round(picture.size[1] * scale))
    return np.asarray(picture.resize(size, Image.Resampling.LANCZOS))


class _Walk:
    """One entity's appearance: the walked parameters (``WALK``) and occluders, drawn from the
    original on each step."""

    def __init__(self, image: np.ndarray, rng: np.random.Generator, *, scale: float = 1.0) -> None:
        self.image = image  # [H, W, 3]
        self.rng = rng
        self.scale = scale  # of the steps
        self.params = {name: p.start for name, p in WALK.items()}
        self.occluders: list[list[float]] = []  # [x, y, w, h, r, g, b]: centre, sides, colour

    def step(self) -> np.ndarray:
        """Move every parameter one step; the new view, uint8 [H, W, 3]."""
        rng = self.rng
        for name, p in WALK.items():
            value = self.params[name] + rng.normal(0.0, p.sigma * self.scale)
            self.params[name] = _reflect(value, p.low, p.high)
        kept = []
        for occluder in self.occluders:
            moved = [_reflect(v + rng.normal(0.0, OCCLUDER_STEP), 0.0, 1.0) for v in occluder[:2]]
            sides = [min(v + rng.normal(0.0, OCCLUDER_STEP), OCCLUDER_MAX) for v in occluder[2:4]]
            if min(sides) >= OCCLUDER_GONE:
                kept.append(moved + sides + occluder[4:])
        self.occluders = kept
        if len(self.occluders) < OCCLUDERS and rng.random() < OCCLUDER_APPEAR:
            self.occluders.append(
                [*rng.random(2), *rng.uniform(0.05, 0.1, 2), *rng.integers(0, 256, 3)]
            )
        return self._draw()

    def _draw(self) -> np.ndarray:
        """Steps: 1. pose (a projective warp), 2. lighting, 3. recolour, 4. occluders,
        5. noise, blur and JPEG."""
        from skimage.transform import warp

        p, image = self.params, self.image
        height, width = image.shape[:2]
        # 1. Pose: output pixel -> input pixel, about the centre.
        angle, zoom = math.radians(p["rotate"]), math.exp(p["log_zoom"])
        centre = np.array([[1, 0, -width / 2], [0, 1, -height / 2], [0, 0, 1]], np.float64)
        shift = np.array([[1, 0, -p["shift_x"] * width], [0, 1, -p["shift_y"] * height], [0, 0, 1]])
        cos, sin = math.cos(angle) / zoom, math.sin(angle) / zoom
        rotate = np.array([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]])
        tilt = 192 / max(height, width)
        keystone = np.array([[1, 0, 0], [0, 1, 0], [p["tilt_x"] * tilt, p["tilt_y"] * tilt, 1]])
        matrix = np.linalg.inv(centre) @ keystone @ rotate @ shift @ centre
        out = warp(image, matrix, order=1, mode="reflect", preserve_range=True)
        out = out.astype(np.float32) / np.float32(255)  # [H, W, 3]
        # 2. Lighting.
        out = out ** np.float32(math.exp(p["log_gamma"])) * np.float32(math.exp(p["log_gain"]))
        out *= np.array([1 + p["temperature"], 1, 1 - p["temperature"]], np.float32)
        # 3. Recolour: a rotation about the grey axis and a saturation scale.
        out = out @ _recolour(math.radians(p["hue"]), math.exp(p["log_saturation"])).T
        # 4. Occluders.
        for x, y, w, h, *colour in self.occluders:
            x0, y0 = max(int((x - w / 2) * width), 0), max(int((y - h / 2) * height), 0)
            x1, y1 = max(int((x + w / 2) * width), 0), max(int((y + h / 2) * height), 0)
            out[y0:y1, x0:x1] = np.array(colour, np.float32) / 255
        # 5. Noise, blur and JPEG.
        out = out * 255 + self.rng.normal(0.0, p["noise"], out.shape).astype(np.float32)
        picture = Image.fromarray(np.clip(np.round(out), 0, 255).astype(np.uint8))
        blur = p["blur"] * max(height, width) / 192
        if blur > 0.05:
            picture = picture.filter(ImageFilter.GaussianBlur(blur))
        buffer = io.BytesIO()
        picture.save(buffer, "JPEG", quality=round(p["jpeg"]))
        with Image.open(buffer) as jpeg:
            return np.asarray(jpeg.convert("RGB"))


def _reflect(value: float, low: float, high: float) -> float:
    while not low <= value <= high:
        value = 2 * low - value if value < low else 2 * high - value
    return value


def _recolour(hue: float, saturation: float) -> np.ndarray:
    """float32 [3, 3]: rotate RGB by ``hue`` radians about the grey axis, then scale the
    distance from grey by ``saturation``."""
    k = np.full(3, 1 / math.sqrt(3))
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    rotation = math.cos(hue) * np.eye(3) + math.sin(hue) * cross
    rotation += (1 - math.cos(hue)) * np.outer(k, k)
    grey = np.full((3, 3), 1 / 3)
    return (grey + saturation * (np.eye(3) - grey) @ rotation).astype(np.float32)


def _face_walk(
    photo: np.ndarray, steps: int, points: int, capacity: int, seed: int, scale: float
) -> dict:
    """The astronaut's face along a walk (steps ``scale`` times the appearance walk's):
    detection rate and similarity decay."""
    faces = embedder("face")
    original = faces.observe(photo)
    config = replace(DEFAULT_CONFIGS["face"], capacity=capacity)
    identities = Identities(configs={"face": config})
    identities.register("astronaut", "face", original.vector[None])
    bank = identities.bank("astronaut")
    walk = _Walk(photo, np.random.default_rng(seed + 2), scale=scale)
    to_original = np.full(steps, np.nan)
    to_bank = np.full(steps, np.nan)
    face_s = 0.0
    for t in range(steps):
        view = walk.step()
        start = time.perf_counter()
        try:
            observation = faces.observe(view)
        except NoFaceError:
            continue
        finally:
            face_s += time.perf_counter() - start
        to_original[t] = float(observation.vector @ original.vector)
        to_bank[t] = bank.similarity(observation.vector)
        identities.observe(
            "face", observation.vector, entity="astronaut", quality=observation.quality
        )
    return {
        "face_similarity_decay": {
            "original": _windows(to_original, points),
            "adaptive": _windows(to_bank, points),
        },
        "face_detect_rate": round(float(np.isfinite(to_original).mean()), 4),
        "face_steps": steps,
        "face_ms": round(face_s / steps * 1e3, 2),
    }


def _speed(memories: int, timed: int, seed: int, *, capacity: int = 32, dim: int = 256) -> dict:
    """``update_us_<n>``, ``query_us_<n>`` and ``observe_us_<n>`` with ``memories`` slots."""
    rng = np.random.default_rng(seed + 3)

    def unit(count: int) -> np.ndarray:
        v = rng.standard_normal((count, dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    config = replace(DEFAULT_CONFIGS["appearance"], capacity=capacity)
    identities = Identities(configs={"appearance": config})
    banks = max(memories // capacity, 1)
    for b in range(banks):
        rows = unit(capacity)
        bank, _ = identities.register(f"e{b}", "appearance", rows[:1])
        for row in rows[1:]:
            bank.add(row, pin=False)
    if identities.memories != banks * capacity:
        raise AssertionError(f"built {identities.memories} memories, expected {banks * capacity}")
    which = rng.integers(banks, size=timed)
    queries = unit(timed)

    start = time.perf_counter()
    for v in queries:
        identities.reidentify("appearance", v)
    query_s = time.perf_counter() - start

    targets = [identities.bank(f"e{b}") for b in which]
    start = time.perf_counter()
    for bank, v in zip(targets, queries, strict=True):
        bank.update(v)
    update_s = time.perf_counter() - start

    queries = unit(timed)
    start = time.perf_counter()
    for b, v in zip(which, queries, strict=True):
        identities.observe("appearance", v, entity=f"e{b}")
    observe_s = time.perf_counter() - start
    return {
        f"update_us_{memories}": round(update_s / timed * 1e6, 2),
        f"query_us_{memories}": round(query_s / timed * 1e6, 2),
        f"observe_us_{memories}": round(observe_s / timed * 1e6, 2),
    }
