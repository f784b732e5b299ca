import numpy as np
import pytest
import trimesh

from continuum.generation.facesplat import _reference
from continuum.generation.facesplat.visibility import camera_pixels, sample_image, seen_weights
from continuum.splats.camera import Camera
from continuum.splats.cloud import quat_to_rotmat
from continuum.splats.mesh import mesh_to_splats


@pytest.fixture(scope="module")
def ball():
    cloud = mesh_to_splats(trimesh.creation.icosphere(subdivisions=3, radius=0.1), count=1500)
    normals = quat_to_rotmat(cloud.quats)[:, :, 2].double().numpy()
    camera = Camera.look_at((0.0, 0.0, 0.6), (0.0, 0.0, 0.0), fov_y_deg=35, width=64, height=48)
    return cloud, normals, camera


def test_seen_weights_match_the_reference(ball):
    cloud, normals, camera = ball
    fast = seen_weights(cloud, normals, camera)
    np.testing.assert_allclose(fast, _reference.seen_weights(cloud, normals, camera), atol=1e-6)


def test_the_front_is_seen_and_the_back_is_not(ball):
    cloud, normals, camera = ball
    weights = seen_weights(cloud, normals, camera)
    z = cloud.means[:, 2].numpy()
    assert (weights[z < -0.01] == 0).all()
    assert weights[z > 0.09].min() > 0.8  # facet normals of a coarse sphere
    assert 0.3 < (weights > 0).mean() < 0.6


def test_camera_pixels_puts_the_centre_at_the_principal_point(ball):
    _, _, camera = ball
    xy, depth = camera_pixels(np.array([[0.0, 0.0, 0.0], [0.0, 0.1, 0.0]]), camera)
    np.testing.assert_allclose(xy[0], (camera.cx, camera.cy))
    assert xy[1, 1] < camera.cy  # +Y up is image up
    np.testing.assert_allclose(depth, 0.6)


def test_sample_image_matches_the_reference():
    rng = np.random.default_rng(0)
    image = rng.random((7, 9, 3))
    xy = rng.uniform(-2, 11, size=(200, 2))
    np.testing.assert_allclose(sample_image(image, xy), _reference.sample_image(image, xy))
    # at a pixel centre, the pixel itself
    np.testing.assert_allclose(sample_image(image, np.array([[3.5, 2.5]]))[0], image[2, 3])
    with pytest.raises(ValueError, match="2 x 2"):
        sample_image(np.zeros((1, 5, 3)), xy)
