"""The person against the background: which of the photo's pixels may colour the head.

Beside the face the photo shows hair, ears and the collar, but also whatever stood behind the
person (a flag, a wall), and the head prior's outline is only roughly the head's: without a
mask the background is painted onto the sides of the head. ``person_mask`` separates the two
by GrabCut (Rother et al. 2004; OpenCV's ``cv2.grabCut``): colour models of foreground and
background (Gaussian mixtures) and a graph cut, iterated ``_ITERATIONS`` times. It starts from

- surely the person: the face (the detected face mask);
- probably the person: an ellipse about the face (``_AROUND`` face widths across, ``_TALL``
  face heights tall, raised by a quarter face height: hair and head wear), and the band under
  the face, two face widths wide, down to the bottom of the photo (the neck, the shoulders);
- probably the background: the rest of a box reaching ``_BOX_SIDE`` face widths beyond the
  face at each side and ``_BOX_TOP`` face heights above it, down to the bottom;
- surely the background: everything outside that box.

OpenCV's random generator is seeded before each cut (its k-means starts the colour models), so
the same photo gives the same mask.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

_AROUND = 1.5
_TALL = 2.0
_BOX_SIDE = 1.1
_BOX_TOP = 1.3
_ITERATIONS = 5


def person_mask(
    image: np.ndarray, face_box: tuple[int, int, int, int], face: np.ndarray
) -> np.ndarray:
    """The person's pixels, started from the face (see the module docstring).

    Args:
        image: the photo, uint8 RGB  # [H, W, 3]
        face_box: the detected face's box (x0, y0, x1, y1), pixels
        face: the face's pixels, surely the person  # [H, W] bool

    Returns:
        the person's pixels  # [H, W] bool
    """
    height, width = image.shape[:2]
    if face.shape != (height, width):
        raise ValueError(f"face mask {list(face.shape)} must match the image {[height, width]}")
    x0, y0, x1, y1 = (float(v) for v in face_box)
    face_w, face_h = x1 - x0, y1 - y0
    mask = np.full((height, width), cv2.GC_BGD, np.uint8)
    top = max(0, math.floor(y0 - _BOX_TOP * face_h))
    left = max(0, math.floor(x0 - _BOX_SIDE * face_w))
    right = min(width, math.ceil(x1 + _BOX_SIDE * face_w))
    mask[top:, left:right] = cv2.GC_PR_BGD
    rows, columns = np.mgrid[:height, :width]
    centre_x, centre_y = (x0 + x1) / 2, (y0 + y1) / 2 - 0.25 * face_h
    head = ((columns - centre_x) / (_AROUND * face_w / 2)) ** 2 + (
        (rows - centre_y) / (_TALL * face_h / 2)
    ) ** 2 < 1
    body = (rows >= y1) & (np.abs(columns - centre_x) < face_w)
    mask[head | body] = cv2.GC_PR_FGD
    mask[face] = cv2.GC_FGD
    background, foreground = np.zeros((1, 65)), np.zeros((1, 65))
    bgr = np.ascontiguousarray(image[:, :, ::-1])
    cv2.setRNGSeed(0)
    cv2.grabCut(bgr, mask, None, background, foreground, _ITERATIONS, cv2.GC_INIT_WITH_MASK)
    return (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
