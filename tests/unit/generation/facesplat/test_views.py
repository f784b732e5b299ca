import math

import numpy as np
import pytest

from continuum.generation.facesplat.views import FACE_CENTRE, photo_elevation, turntable_camera


@pytest.mark.parametrize("yaw", [-30.0, 0.0, 15.0])
@pytest.mark.parametrize("elevation", [-10.0, 0.0, 5.0, 20.0])
def test_the_turntable_keeps_its_elevation_and_distance_as_it_turns(yaw, elevation):
    camera = turntable_camera(yaw, elevation_deg=elevation, distance=0.5)
    centre = camera.centre.numpy()
    turn = math.radians(yaw)
    rotation = np.array(
        [[math.cos(turn), 0, math.sin(turn)], [0, 1, 0], [-math.sin(turn), 0, math.cos(turn)]]
    )
    target = rotation @ np.array(FACE_CENTRE)
    # the elevation seen from the turned face centre (from the face centre itself at yaw 0)
    assert photo_elevation(camera, face_centre=target) == pytest.approx(elevation, abs=1e-4)
    assert np.linalg.norm(centre - target) == pytest.approx(0.5, abs=1e-5)
    # it looks at the (turned) face centre: that point projects to the image centre
    w2c = camera.world_to_camera.numpy()
    seen = w2c[:3, :3] @ target + w2c[:3, 3]
    assert seen[2] > 0
    assert camera.fx * seen[0] / seen[2] + camera.cx == pytest.approx(camera.width / 2, abs=1e-3)
    assert camera.fy * seen[1] / seen[2] + camera.cy == pytest.approx(camera.height / 2, abs=1e-3)


def test_a_camera_above_the_face_looks_down_on_it():
    level, above = turntable_camera(0.0), turntable_camera(0.0, elevation_deg=10.0)
    assert above.centre[1] > level.centre[1]
    assert photo_elevation(level) == pytest.approx(0.0, abs=1e-6)


def test_an_elevation_out_of_range_is_refused():
    with pytest.raises(ValueError, match="elevation_deg"):
        turntable_camera(0.0, elevation_deg=90.0)
