"""The face prior: a mean 3D face of 68 landmarks, its shape modes, and a head ellipsoid.

Frame (the "face frame", shared by every module of this package): metres, glTF axes (+X the
subject's left, which is the viewer's right; +Y up; +Z the direction the face looks), origin at
the centre of the head ellipsoid, so that turning the head is a rotation about +Y through the
origin.

Where the numbers come from. The template is the project's own data, written for Continuum
(Apache-2.0, like the rest of the project) from published adult anthropometric proportions
(Farkas, "Anthropometry of the Head and Face", 1994, averages of adult men and women rounded to
a few millimetres), not copied from any third-party landmark file:

- eyes: biocular width (ex-ex) 9 cm, intercanthal width (en-en) 3.2 cm, eye fissure 2.9 cm
  long and 1 cm high; the outer corners 2 cm behind the nasion, the inner 0.8 cm.
- brows: 2-2.5 cm above the eye line, 11 cm wide, curving back to 2.8 cm behind the nasion.
- nose: nasion to tip 3.5 cm high, the tip 2.1 cm in front of the nasion; alar width 3.2 cm;
  subnasale 4.4 cm below the eye line.
- mouth: 5 cm wide (ch-ch), 5.5-7 cm below the eye line, lips 0.3-0.5 cm in front of the
  nasion plane, corners 0.9 cm behind it.
- jaw contour (dlib's points 0-16 run from beside the right eye, round the chin, to beside the
  left eye): bizygomatic width 14 cm, bigonial 11 cm, nasion to menton 11.3 cm; the contour
  lies 0.2 cm (chin) to 6.5 cm (ears) behind the nasion.
- head: breadth 15.2 cm, length (glabella to back) 20 cm, height (vertex to chin) about 23 cm:
  an ellipsoid with semi-axes 7.6, 11.5 and 10 cm centred 0.5 cm above and 9.5 cm behind the
  nasion.
- neck: circumference about 36 cm (adult women 33, men 38): an upright elliptic cylinder 11 cm
  wide and 12 cm deep, its axis 11 cm behind the nasion, so that the throat lies about 5 cm
  behind the chin and the nape 2.5 cm inside the back of the head.

Shape modes (``SHAPE_MODES``) are per-identity freedoms of the fit: each is a displacement of
the template per unit coefficient, and the fit regularises the coefficients towards 0 (the
mean face) with a unit prior standard deviation. One unit is about one standard deviation of
the measurement in Farkas's tables (5-8 % of it).
"""

from __future__ import annotations

import numpy as np

# The 68 iBUG landmarks in centimetres, relative to the nasion, +x the subject's left, +y up,
# +z forward. Right-side points (x < 0) are written out; the left side is their mirror image,
# filled in by _mirror_pairs below.
_RIGHT_AND_CENTRE_CM: dict[int, tuple[float, float, float]] = {
    # jaw, from beside the right eye to the chin (8)
    0: (-7.0, -0.5, -6.5),
    1: (-6.9, -2.3, -6.3),
    2: (-6.6, -4.1, -5.8),
    3: (-6.2, -5.8, -5.0),
    4: (-5.6, -7.4, -4.0),
    5: (-4.7, -8.7, -2.8),
    6: (-3.6, -9.8, -1.6),
    7: (-2.0, -10.6, -0.6),
    8: (0.0, -11.0, -0.2),
    # right brow, outer to inner
    17: (-5.5, 1.5, -2.8),
    18: (-4.6, 2.2, -1.4),
    19: (-3.5, 2.5, -0.6),
    20: (-2.4, 2.4, -0.1),
    21: (-1.2, 2.1, 0.2),
    # nose bridge, nasion to tip
    27: (0.0, 0.3, 0.0),
    28: (0.0, -0.9, 0.6),
    29: (0.0, -2.0, 1.3),
    30: (0.0, -3.2, 2.1),
    # nostrils, right to centre
    31: (-1.6, -4.0, -0.1),
    32: (-0.85, -4.25, 0.5),
    33: (0.0, -4.4, 0.7),
    # right eye: outer corner, upper lid (2), inner corner, lower lid (2)
    36: (-4.5, 0.1, -2.0),
    37: (-3.6, 0.55, -1.2),
    38: (-2.5, 0.55, -1.0),
    39: (-1.6, 0.0, -0.8),
    40: (-2.5, -0.4, -1.1),
    41: (-3.6, -0.4, -1.3),
    # outer lips: right corner, upper lip to the centre (51), lower lip from the centre (57)
    48: (-2.5, -6.2, -0.9),
    49: (-1.6, -5.7, -0.1),
    50: (-0.6, -5.45, 0.35),
    51: (0.0, -5.55, 0.45),
    57: (0.0, -7.05, 0.3),
    58: (-0.6, -7.0, 0.25),
    59: (-1.6, -6.8, -0.1),
    # inner lips
    60: (-2.2, -6.2, -0.6),
    61: (-0.6, -6.05, 0.15),
    62: (0.0, -6.05, 0.2),
    66: (0.0, -6.25, 0.2),
    67: (-0.6, -6.25, 0.15),
}


def _mirror_pairs() -> list[tuple[int, int]]:
    """(right, left) landmark pairs of the iBUG 68 scheme."""
    pairs = [(i, 16 - i) for i in range(8)]  # jaw
    pairs += [(17 + i, 26 - i) for i in range(5)]  # brows
    pairs += [(31, 35), (32, 34)]  # nostrils
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes
    pairs += [(48, 54), (49, 53), (50, 52), (59, 55), (58, 56)]  # outer lips
    pairs += [(60, 64), (61, 63), (67, 65)]  # inner lips
    return pairs


MIRROR_PAIRS: tuple[tuple[int, int], ...] = tuple(_mirror_pairs())
"""(right, left) landmark index pairs; the landmarks not listed lie on the midline."""

# The head ellipsoid: centre relative to the nasion and semi-axes, centimetres.
_HEAD_CENTRE_CM = np.array([0.0, 0.5, -9.5])
HEAD_SEMI_AXES = np.array([0.076, 0.115, 0.100])
"""Semi-axes of the head ellipsoid in metres (x breadth, y height, z length)  # [3]"""
NECK_SEMI_AXES = np.array([0.055, 0.060])
"""Semi-axes of the neck's cross-section in metres (x breadth, z depth)  # [2]"""
NECK_CENTRE_Z = -0.015
"""The neck's axis in the face frame: the vertical line x = 0, z = this (metres)."""


def _template() -> np.ndarray:
    points = np.zeros((68, 3))
    for index, xyz in _RIGHT_AND_CENTRE_CM.items():
        points[index] = xyz
    for right, left in MIRROR_PAIRS:
        points[left] = points[right] * (-1.0, 1.0, 1.0)
    return (points - _HEAD_CENTRE_CM) / 100.0


TEMPLATE = _template()
"""The mean face: 68 landmarks in the face frame, metres  # [68, 3]"""


def mirror_index() -> np.ndarray:
    """For each landmark, its mirror partner (itself on the midline)  # [68] int"""
    index = np.arange(68)
    for right, left in MIRROR_PAIRS:
        index[right], index[left] = left, right
    return index


def _shape_modes() -> tuple[np.ndarray, tuple[str, ...]]:
    """Displacements of the template per unit coefficient, metres  # [M, 68, 3]."""
    t = TEMPLATE
    nasion = t[27]
    jaw = np.arange(0, 17)
    eyes = np.arange(36, 48)
    nose = np.arange(27, 36)
    mouth = np.arange(48, 68)
    brows = np.arange(17, 27)
    lower = np.concatenate([np.arange(2, 15), mouth, np.arange(31, 36)])

    def about(points: np.ndarray, index: np.ndarray, centre: np.ndarray, axis_scale) -> np.ndarray:
        mode = np.zeros_like(points)
        mode[index] = (points[index] - centre) * np.asarray(axis_scale)
        return mode

    modes = {
        # 6 % wider or narrower face, about the midline
        "face_width": about(t, np.arange(68), nasion, (0.06, 0.0, 0.0)),
        # 6 % longer lower face, from the eye line down
        "face_length": about(t, lower, nasion, (0.0, 0.06, 0.0)),
        # eyes 8 % further apart (each eye moves as a whole)
        "eye_spacing": _spread(t, eyes, 0.08),
        # nose 8 % wider at the wings, 6 % longer
        "nose_width": about(t, np.arange(31, 36), t[33], (0.08, 0.0, 0.0)),
        "nose_length": about(t, nose[1:], nasion, (0.0, 0.06, 0.0)),
        # mouth 7 % wider
        "mouth_width": about(t, mouth, (t[48] + t[54]) / 2, (0.07, 0.0, 0.0)),
        # jaw 7 % wider below the cheekbones
        "jaw_width": about(t, jaw[3:14], t[8], (0.07, 0.0, 0.0)),
        # brows 0.25 cm higher
        "brow_height": _shift(t, brows, (0.0, 0.0025, 0.0)),
    }
    return np.stack(list(modes.values())), tuple(modes)


def _spread(points: np.ndarray, index: np.ndarray, fraction: float) -> np.ndarray:
    """Move each half of ``index`` (split at x = 0) rigidly sideways by ``fraction`` of its
    distance from the midline  # [68, 3]"""
    mode = np.zeros_like(points)
    for side in (index[points[index, 0] < 0], index[points[index, 0] > 0]):
        mode[side, 0] = points[side, 0].mean() * fraction
    return mode


def _shift(points: np.ndarray, index: np.ndarray, offset) -> np.ndarray:
    mode = np.zeros_like(points)
    mode[index] = offset
    return mode


SHAPE_MODES, SHAPE_MODE_NAMES = _shape_modes()
"""Per-identity shape freedoms: displacements per unit coefficient, metres  # [M, 68, 3]; and
their names (face_width, face_length, eye_spacing, nose_width, nose_length, mouth_width,
jaw_width, brow_height). Every mode is left-right symmetric."""


def shaped_landmarks(coefficients: np.ndarray, *, scale: float = 1.0) -> np.ndarray:
    """The template moved by shape coefficients and scaled about the head centre.

    Args:
        coefficients: one per shape mode  # [M]
        scale: overall size relative to the mean head (1: the mean head)

    Returns:
        68 landmarks in the face frame, metres  # [68, 3]
    """
    coefficients = np.asarray(coefficients, dtype=np.float64)
    if coefficients.shape != (len(SHAPE_MODES),):
        raise ValueError(
            f"coefficients must have shape [{len(SHAPE_MODES)}] (one per shape mode), got "
            f"{list(coefficients.shape)}"
        )
    return scale * (TEMPLATE + np.tensordot(coefficients, SHAPE_MODES, axes=1))
