"""Views of a reconstructed face: cameras turned about the head's vertical axis.

``turntable_camera`` orbits the face frame's +Y axis (through the head's centre, see
``prior``) and looks at the face: yaw 0 looks at the face from straight ahead (from +Z), and a
positive yaw moves the camera towards +X, the subject's left, so it sees the left cheek. The
camera may look down on the face from above (a positive elevation): ``photo_elevation`` is the
photo's own, so that turned views differ from the photo's view by the turn alone (a portrait is
mostly taken from a little above the face; seen from the face's own height, every view would
also tilt the face back by those degrees).
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
    elevation_deg: float = 0.0,
    size: int = 320,
    distance: float = 0.5,
    fov_deg: float = 30.0,
    face_centre: Sequence[float] = FACE_CENTRE,
    background: Sequence[float] = (0.5, 0.5, 0.5),
) -> Camera:
    """A square camera turned ``yaw_deg`` about the head's vertical axis, looking at the face.

    Args:
        yaw_deg: the turn, degrees (0: from the front; positive: towards the subject's left)
        elevation_deg: the camera's height above the face's centre, as the angle seen from it
            (-90..90 degrees; 0: level with the face)
        size: image width and height in pixels
        distance: from the face's centre, metres (0.5 with 30 degrees and 320 pixels draws a
            mean face about 170 pixels wide)
        fov_deg: vertical field of view, degrees
        face_centre: the point looked at, before the turn (face frame, metres)  # [3]
        background: RGB 0..1
    """
    if not -90.0 < elevation_deg < 90.0:
        raise ValueError(f"elevation_deg must lie in (-90, 90), got {elevation_deg}")
    turn, rise = math.radians(yaw_deg), math.radians(elevation_deg)
    rotation = np.array(
        [
            [math.cos(turn), 0.0, math.sin(turn)],
            [0.0, 1.0, 0.0],
            [-math.sin(turn), 0.0, math.cos(turn)],
        ]
    )
    target = np.asarray(face_centre, dtype=np.float64)
    eye = rotation @ (target + distance * np.array([0.0, math.sin(rise), math.cos(rise)]))
    return Camera.look_at(
        eye,
        rotation @ target,
        fov_y_deg=fov_deg,
        width=size,
        height=size,
        background=tuple(background),
    )


def photo_elevation(camera: Camera, *, face_centre: Sequence[float] = FACE_CENTRE) -> float:
    """The photo camera's elevation above the face's centre, degrees, for ``turntable_camera``.

    Args:
        camera: the photo's camera in the face frame (``FaceReconstruction.camera``)
        face_centre: the point the turntable looks at (face frame, metres)  # [3]
    """
    offset = camera.centre.numpy().astype(np.float64) - np.asarray(face_centre, np.float64)
    return math.degrees(math.atan2(offset[1], math.hypot(offset[0], offset[2])))
