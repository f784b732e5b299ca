"""Views of a reconstructed face: cameras turned about the head's vertical axis.

``turntable_camera`` orbits the face frame's +Y axis (through the head's centre, see
``prior``) and looks at the face: yaw 0 looks at the face from straight ahead (from +Z), and a
positive yaw moves the camera towards +X, the subject's left, so it sees the left cheek.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from continuum.splats.camera import Camera

# The face's centre in the mean head: the centroid of the prior's landmarks, metres.
FACE_CENTRE = (0.0, -0.04, 0.08)


def turntable_camera(
    yaw_deg: float,
    *,
    size: int = 320,
    distance: float = 0.5,
    fov_deg: float = 30.0,
    face_centre: Sequence[float] = FACE_CENTRE,
    background: Sequence[float] = (0.5, 0.5, 0.5),
) -> Camera:
    """A square camera turned ``yaw_deg`` about the head's vertical axis, looking at the face.

    Args:
        yaw_deg: the turn, degrees (0: from the front; positive: towards the subject's left)
        size: image width and height in pixels
        distance: from the face's centre, metres (0.5 with 30 degrees and 320 pixels draws a
            mean face about 170 pixels wide)
        fov_deg: vertical field of view, degrees
        face_centre: the point looked at, before the turn (face frame, metres)  # [3]
        background: RGB 0..1
    """
    turn = math.radians(yaw_deg)
    rotation = np.array(
        [
            [math.cos(turn), 0.0, math.sin(turn)],
            [0.0, 1.0, 0.0],
            [-math.sin(turn), 0.0, math.cos(turn)],
        ]
    )
    target = np.asarray(face_centre, dtype=np.float64)
    eye = rotation @ (target + np.array([0.0, 0.0, distance]))
    return Camera.look_at(
        eye,
        rotation @ target,
        fov_y_deg=fov_deg,
        width=size,
        height=size,
        background=tuple(background),
    )
