import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from continuum.generation.facesplat.pose import fit_pose, photo_camera, project
from continuum.generation.facesplat.prior import SHAPE_MODES, shaped_landmarks

FACING = np.diag([1.0, -1.0, -1.0])


def _observe(rotation, translation, coefficients, *, noise, seed=0):
    camera = photo_camera(640, 480)
    points = shaped_landmarks(coefficients)
    pixels = project(points, rotation, translation, camera)
    return pixels + np.random.default_rng(seed).normal(0.0, noise, pixels.shape)


@pytest.mark.parametrize("yaw, pitch", [(0.0, 0.0), (20.0, -8.0), (-25.0, 10.0)])
def test_a_known_pose_is_recovered_from_noisy_landmarks(yaw, pitch):
    turn = Rotation.from_euler("yx", [yaw, pitch], degrees=True).as_matrix()
    rotation = turn @ FACING
    translation = np.array([0.03, -0.02, 0.8])
    coefficients = np.zeros(len(SHAPE_MODES))
    coefficients[[0, 5]] = (1.0, -1.0)  # a wider face, a narrower mouth
    landmarks = _observe(rotation, translation, coefficients, noise=0.5)

    fit = fit_pose(landmarks, width=640, height=480)

    error = Rotation.from_matrix(fit.rotation @ rotation.T).magnitude()
    assert np.degrees(error) < 2.0
    np.testing.assert_allclose(fit.translation, translation, atol=0.03)
    assert fit.rms_px < 1.5
    assert fit.coefficients[0] > 0.3 and fit.coefficients[5] < -0.3
    # the camera carries the pose: it projects the fitted landmarks onto the detected ones
    w2c = fit.camera.world_to_camera.numpy()
    again = project(fit.landmarks, w2c[:3, :3], w2c[:3, 3], fit.camera)
    assert np.sqrt(((again - landmarks) ** 2).sum(1).mean()) == pytest.approx(fit.rms_px)


def test_without_shape_the_mean_face_is_used():
    landmarks = _observe(FACING, np.array([0.0, 0.0, 0.7]), np.zeros(len(SHAPE_MODES)), noise=0)
    fit = fit_pose(landmarks, width=640, height=480, shape=False)
    assert np.all(fit.coefficients == 0)
    assert fit.rms_px < 0.05


def test_bad_landmarks_are_refused():
    with pytest.raises(ValueError, match=r"\[68, 2\]"):
        fit_pose(np.zeros((5, 2)), width=64, height=64)
    with pytest.raises(ValueError, match="degenerate"):
        fit_pose(np.zeros((68, 2)), width=64, height=64)
