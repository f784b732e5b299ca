import numpy as np
import pytest
import torch
import trimesh
from PIL import Image
from scipy.spatial import ConvexHull

from continuum.errors import SplatFormatError
from continuum.splats.camera import Camera
from continuum.splats.cloud import quat_to_rotmat
from continuum.splats.mesh import load_mesh, mesh_to_splats
from continuum.splats.render import render_splats
from continuum.splats.sh import C0

# One colour per cube side: +x, -x, +y, -y, +z, -z.
SIDE_NORMALS = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]])
SIDE_COLOURS = np.array(
    [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255], [255, 0, 255]]
)


def coloured_cube() -> trimesh.Trimesh:
    cube = trimesh.creation.box()  # the unit cube, centred at the origin
    cube.unmerge_vertices()  # own vertices per face, so files store face colours exactly
    side = np.argmax(cube.face_normals @ SIDE_NORMALS.T, axis=1)
    cube.visual.face_colors = np.concatenate([SIDE_COLOURS[side], np.full((12, 1), 255)], axis=1)
    return cube


def cube_side(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For points on the unit cube: the outward normal at each, and the index of its side."""
    rows = np.arange(len(points))
    axis = np.abs(points).argmax(axis=1)
    normals = np.zeros_like(points)
    normals[rows, axis] = np.sign(points[rows, axis])
    return normals, np.argmax(normals @ SIDE_NORMALS.T, axis=1)


def rgb_of(cloud) -> np.ndarray:
    return (cloud.sh[:, 0] * C0 + 0.5).numpy()


def test_cube_splats_lie_on_the_faces_facing_out_with_the_face_colour():
    cube = coloured_cube()
    cloud = mesh_to_splats(cube, count=3000)
    assert len(cloud) == 3000 and cloud.sh_degree == 0
    means = cloud.means.numpy()
    # On the surface: the largest coordinate magnitude is 0.5 (distance to the surface ~0).
    assert np.abs(np.abs(means).max(axis=1) - 0.5).max() < 1e-6
    normals, side = cube_side(means)
    # Local z is the face normal; the normal axis is thin, the in-plane axes equal.
    z_axis = quat_to_rotmat(cloud.quats)[:, :, 2].numpy()
    assert np.allclose(z_axis, normals, atol=1e-5)
    scales = cloud.scales().numpy()
    assert np.allclose(scales[:, 0], scales[:, 1])
    assert np.allclose(scales[:, 2], 1e-3 * scales[:, 0], rtol=1e-4)
    # Colour of the side it lies on; opaque.
    assert np.allclose(rgb_of(cloud), SIDE_COLOURS[side] / 255.0, atol=1e-5)
    assert (cloud.opacities() > 0.98).all()


def test_samples_are_spread_by_area_and_scales_by_spacing():
    cube = coloured_cube()
    cloud = mesh_to_splats(cube, splats_per_area=1000.0)
    assert len(cloud) == 6000
    _, side = cube_side(cloud.means.numpy())
    per_side = np.bincount(side, minlength=6)
    assert per_side.min() >= 999 and per_side.max() <= 1001  # stratified, not random
    sigma = cloud.scales()[:, 0].numpy()
    spacing = np.sqrt(6.0 / 6000)
    assert 0.5 * spacing < np.median(sigma) < 1.5 * spacing


def test_cover_is_closed_between_samples():
    # Alpha of a flat cover at points between samples, composited as a renderer does.
    cloud = mesh_to_splats(coloured_cube(), count=6000)
    top = cloud.means[:, 1] > 0.4999  # the +y side
    centres = cloud.means[top][:, [0, 2]]
    sigma = cloud.scales()[top][:, 0]
    opacity = cloud.opacities()[top]
    probes = torch.rand(1000, 2, generator=torch.Generator().manual_seed(1)) * 0.8 - 0.4
    d2 = ((probes[:, None] - centres[None]) ** 2).sum(-1)
    alpha = (opacity * torch.exp(-0.5 * d2 / sigma**2)).clamp_max(0.99)
    coverage = 1 - torch.prod(1 - alpha, dim=1)
    assert coverage.min() > 0.95 and coverage.mean() > 0.998


@pytest.mark.parametrize("eye", [(2.0, 1.5, 2.5), (-2.5, -1.0, 1.5), (0.3, 3.0, 0.2)])
def test_rendered_cube_is_opaque_inside_its_silhouette(eye):
    cube = coloured_cube()
    cloud = mesh_to_splats(cube, count=4000)
    camera = Camera.look_at(eye, (0.0, 0.0, 0.0), fov_y_deg=45.0, width=40, height=40)
    with torch.no_grad():
        alpha = render_splats(cloud, camera, backend="reference").alpha.numpy()
    # The silhouette: the convex hull of the projected corners; pixel centres a pixel or more
    # inside it must be covered, those three pixels or more outside it
    # (past the Gaussian tails at the edges) must be empty.
    w2c = camera.world_to_camera.numpy()
    corners = np.asarray(cube.bounding_box.vertices) @ w2c[:3, :3].T + w2c[:3, 3]
    projected = np.stack(
        [
            camera.fx * corners[:, 0] / corners[:, 2] + camera.cx,
            camera.fy * corners[:, 1] / corners[:, 2] + camera.cy,
        ],
        axis=1,
    )
    hull = ConvexHull(projected)
    rows, cols = np.mgrid[0:40, 0:40]
    centres = np.stack([cols.ravel() + 0.5, rows.ravel() + 0.5], axis=1)
    signed = (centres @ hull.equations[:, :2].T + hull.equations[:, 2]).max(axis=1)  # >0 out
    inside, outside = signed < -1.0, signed > 3.0
    assert inside.sum() > 100
    assert alpha.ravel()[inside].min() > 0.99
    assert alpha.ravel()[outside].max() < 0.01


def test_same_seed_same_cloud_and_sh_degree_pads():
    cube = coloured_cube()
    a = mesh_to_splats(cube, count=500, seed=3, sh_degree=2)
    b = mesh_to_splats(cube, count=500, seed=3, sh_degree=2)
    c = mesh_to_splats(cube, count=500, seed=4, sh_degree=2)
    assert torch.equal(a.means, b.means) and not torch.equal(a.means, c.means)
    assert a.sh.shape == (500, 9, 3) and (a.sh[:, 1:] == 0).all()


def test_vertex_colours_interpolate_barycentrically():
    triangle = trimesh.Trimesh(
        vertices=[[0, 0, 0], [1, 0, 0], [0, 1, 0]],
        faces=[[0, 1, 2]],
        vertex_colors=[[255, 0, 0, 255], [0, 255, 0, 255], [0, 0, 255, 255]],
        process=False,
    )
    cloud = mesh_to_splats(triangle, count=200)
    x, y = cloud.means[:, 0].numpy(), cloud.means[:, 1].numpy()
    expected = np.stack([1 - x - y, x, y], axis=1)  # barycentric weights = colours
    assert np.allclose(rgb_of(cloud), expected, atol=1e-5)
    z_axis = quat_to_rotmat(cloud.quats)[:, :, 2]
    assert torch.allclose(z_axis, torch.tensor([0.0, 0.0, 1.0]).expand(200, 3), atol=1e-6)


def test_texture_is_sampled_at_the_interpolated_uv():
    # A unit quad in the xy-plane with uv = xy and a texture that is red on the left half
    # and blue on the right (image rows run top to bottom, v runs bottom to top).
    texture = np.zeros((8, 8, 3), dtype=np.uint8)
    texture[:, :4] = [255, 0, 0]
    texture[:, 4:] = [0, 0, 255]
    texture[:4, 4:] = [0, 255, 0]  # top-right (high v) green
    quad = trimesh.Trimesh(
        vertices=[[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]],
        faces=[[0, 1, 2], [0, 2, 3]],
        visual=trimesh.visual.TextureVisuals(
            uv=[[0, 0], [1, 0], [1, 1], [0, 1]], image=Image.fromarray(texture)
        ),
        process=False,
    )
    cloud = mesh_to_splats(quad, count=2000)
    x, y = cloud.means[:, 0].numpy(), cloud.means[:, 1].numpy()
    rgb = rgb_of(cloud)
    # Away from the texel seam (bilinear blending there), each quadrant has its colour.
    left, right = x < 0.4, x > 0.6
    low, high = y < 0.4, y > 0.6
    assert np.allclose(rgb[left], [1, 0, 0], atol=1e-5)
    assert np.allclose(rgb[right & low], [0, 0, 1], atol=1e-5)
    assert np.allclose(rgb[right & high], [0, 1, 0], atol=1e-5)


def test_gltf_base_colour_factor_multiplies_the_texture():
    texture = np.full((4, 4, 3), 200, dtype=np.uint8)
    material = trimesh.visual.material.PBRMaterial(
        baseColorTexture=Image.fromarray(texture), baseColorFactor=[255, 128, 0, 255]
    )
    triangle = trimesh.Trimesh(
        vertices=[[0, 0, 0], [1, 0, 0], [0, 1, 0]],
        faces=[[0, 1, 2]],
        visual=trimesh.visual.TextureVisuals(uv=[[0, 0], [1, 0], [0, 1]], material=material),
        process=False,
    )
    rgb = rgb_of(mesh_to_splats(triangle, count=50))
    assert np.allclose(rgb, [200 / 255, 200 / 255 * 128 / 255, 0.0], atol=1e-5)


def test_colour_alpha_scales_opacity():
    cube = coloured_cube()
    cube.visual.face_colors = np.tile([10, 20, 30, 128], (12, 1))
    cloud = mesh_to_splats(cube, count=100, opacity=0.9)
    assert torch.allclose(cloud.opacities(), torch.full((100,), 0.9 * 128 / 255), atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"count": 10, "splats_per_area": 1.0}, "not both"),
        ({"count": 0}, "count must be at least 1"),
        ({"splats_per_area": -1.0}, "splats_per_area must be positive"),
        ({"opacity": 1.0}, "opacity must be in"),
        ({"sh_degree": 4}, "SH degree must be 0..3"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mesh_to_splats(coloured_cube(), **kwargs)


@pytest.mark.parametrize("suffix", [".ply", ".glb", ".obj"])
def test_load_mesh_round_trips_colours(tmp_path, suffix):
    path = tmp_path / f"cube{suffix}"
    coloured_cube().export(path)
    mesh = load_mesh(path)
    assert len(mesh.faces) == 12
    cloud = mesh_to_splats(mesh, count=600)
    colours = {tuple(np.round(c, 3)) for c in rgb_of(cloud)}
    assert colours == {tuple(c) for c in np.round(SIDE_COLOURS / 255.0, 3)}


def test_load_mesh_errors_name_the_file(tmp_path):
    with pytest.raises(SplatFormatError, match="does not exist"):
        load_mesh(tmp_path / "missing.glb")
    unknown = tmp_path / "mesh.xyz123"
    unknown.write_text("hello")
    with pytest.raises(SplatFormatError, match="unknown extension"):
        load_mesh(unknown)
    corrupt = tmp_path / "mesh.glb"
    corrupt.write_bytes(b"glTF not really")
    with pytest.raises(SplatFormatError, match=r"mesh\.glb"):
        load_mesh(corrupt)
    empty = tmp_path / "empty.obj"
    empty.write_text("# nothing\n")
    with pytest.raises(SplatFormatError, match="no triangles"):
        load_mesh(empty)
