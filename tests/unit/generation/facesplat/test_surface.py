import numpy as np
import pytest

from continuum.generation.facesplat.prior import (
    HEAD_SEMI_AXES,
    NECK_CENTRE_Z,
    NECK_SEMI_AXES,
    TEMPLATE,
)
from continuum.generation.facesplat.surface import (
    ellipsoid_radius,
    head_surface,
    landmark_surface,
    neck_surface,
)


@pytest.fixture(scope="module")
def surface():
    return head_surface(TEMPLATE, subdivisions=4)


def test_the_surface_is_a_closed_head(surface):
    mesh = surface.mesh
    assert mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0
    extent = mesh.bounds[1] - mesh.bounds[0]
    np.testing.assert_allclose(extent, 2 * HEAD_SEMI_AXES, rtol=0.15)


def test_it_passes_through_the_landmarks(surface):
    vertices = surface.mesh.vertices
    for index in list(range(60)):
        point = TEMPLATE[index]
        # the radius along the landmark's direction, from the nearest vertices in direction
        unit = vertices / np.linalg.norm(vertices, axis=1, keepdims=True)
        nearest = np.argmax(unit @ (point / np.linalg.norm(point)))
        gap = abs(np.linalg.norm(vertices[nearest]) - np.linalg.norm(point))
        assert gap < 0.006, index  # within a vertex spacing (subdivision 4: about 6 mm)
    # the nose stands out of the ellipsoid, the eyes sit in it
    nose = TEMPLATE[30] / np.linalg.norm(TEMPLATE[30])
    assert np.linalg.norm(TEMPLATE[30]) > ellipsoid_radius(nose[None], HEAD_SEMI_AXES)[0] + 0.01


def test_the_back_of_the_head_is_the_ellipsoid(surface):
    vertices = surface.mesh.vertices
    back = vertices[:, 2] < -0.05
    radii = np.linalg.norm(vertices[back], axis=1)
    expected = ellipsoid_radius(vertices[back] / radii[:, None], HEAD_SEMI_AXES)
    np.testing.assert_allclose(radii, expected, rtol=1e-9)
    # the face region is the front
    centres = surface.mesh.triangles_center[surface.face_region]
    assert 0 < surface.face_region.sum() < len(surface.face_region) / 2
    assert centres[:, 2].min() > 0


def test_the_neck_hangs_under_the_head_behind_the_chin(surface):
    neck = surface.neck
    assert neck is not None and neck.is_winding_consistent
    # its top is hidden inside the head, its bottom below the chin
    top = neck.vertices[neck.vertices[:, 1] == neck.vertices[:, 1].max()]
    radii = np.linalg.norm(top, axis=1)
    assert (radii < ellipsoid_radius(top / radii[:, None], HEAD_SEMI_AXES)).all()
    assert neck.vertices[:, 1].min() < TEMPLATE[8, 1] - 0.08
    # the throat lies behind the chin, and every normal points away from the neck's axis
    assert neck.vertices[:, 2].max() < TEMPLATE[8, 2] - 0.03
    centres = neck.triangles_center
    outward = np.stack([centres[:, 0], 0 * centres[:, 1], centres[:, 2] - NECK_CENTRE_Z], 1)
    assert (np.einsum("ij,ij->i", neck.face_normals, outward) > 0).all()
    np.testing.assert_allclose(neck.vertices[:, 0].max(), NECK_SEMI_AXES[0], rtol=1e-3)
    # a bigger head has a proportionally bigger neck
    np.testing.assert_allclose(neck_surface(scale=1.1).vertices, 1.1 * neck.vertices, atol=1e-12)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match=r"\[68, 3\]"):
        head_surface(np.zeros((68, 2)))
    with pytest.raises(ValueError, match="subdivisions"):
        head_surface(TEMPLATE, subdivisions=9)


def test_the_landmark_surface_is_the_face_alone():
    surface = landmark_surface(TEMPLATE)
    mesh = surface.mesh
    assert surface.face_region.all() and len(surface.face_region) == len(mesh.faces)
    assert surface.neck is None
    # a sheet facing the front, through the landmarks, no wider than they are: no head
    normals = mesh.face_normals[mesh.area_faces > 1e-12]
    assert (normals[:, 2] > 0).all()
    low, high = TEMPLATE[:60].min(axis=0), TEMPLATE[:60].max(axis=0)
    assert (mesh.vertices[:, :2] >= low[:2] - 1e-9).all()
    assert (mesh.vertices[:, :2] <= high[:2] + 1e-9).all()
    for index in (8, 19, 30, 33, 36, 48, 51):
        nearest = np.argmin(np.linalg.norm(mesh.vertices[:, :2] - TEMPLATE[index, :2], axis=1))
        assert abs(mesh.vertices[nearest, 2] - TEMPLATE[index, 2]) < 0.003, index
    with pytest.raises(ValueError, match="spacing"):
        landmark_surface(TEMPLATE, spacing=0)
