import io

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from continuum.errors import ContinuumError, FaceSplatError, NoFaceError
from continuum.generation.facesplat import FaceConfig, load_photo, reconstruct_face
from continuum.generation.facesplat.prior import TEMPLATE
from continuum.generation.facesplat.reconstruct import (
    FACE,
    HEAD,
    NECK,
    head_mask,
    initial_colours,
    surface_gaussians,
)
from continuum.generation.facesplat.surface import head_surface
from continuum.splats.render import render_splats

SMALL = FaceConfig(steps=40, gaussians=6000, subdivisions=4)
QUICK = FaceConfig(steps=0, gaussians=2000, subdivisions=3)


@pytest.fixture(scope="module")
def astronaut():
    return data.astronaut()


@pytest.fixture(scope="module")
def reconstruction(astronaut):
    calls = []
    result = reconstruct_face(astronaut, config=SMALL, progress=lambda s, n: calls.append((s, n)))
    result.calls = calls
    return result


def test_the_photo_camera_reproduces_the_photo_in_the_mask(reconstruction, astronaut):
    r = reconstruction
    assert r.faces_found == 1 and r.notes == []
    assert len(r.cloud) == SMALL.gaussians and r.cloud.sh_degree == 0
    assert r.mask.shape == astronaut.shape[:2] and r.mask.dtype == bool
    # the mask is the face: inside the detector's box, give or take the forehead
    x0, y0, x1, y1 = r.face.box
    rows, columns = np.nonzero(r.mask)
    assert 1500 < r.mask.sum() < (x1 - x0) * (y1 - y0) * 1.5
    assert x0 - 10 <= columns.mean() <= x1 + 10 and y0 - 30 <= rows.mean() <= y1
    with torch.no_grad():
        rgb = render_splats(r.cloud, r.camera, backend="cpu").rgb.numpy()
    error = np.abs(rgb - astronaut / 255.0)[r.mask].mean()
    assert error < 0.04
    assert r.psnr > 28 and r.ssim > 0.85
    # the refinement lowered its loss, and reported every step
    assert r.losses[-1] < r.losses[0]
    assert r.calls == [(s, SMALL.steps) for s in range(SMALL.steps + 1)]
    assert r.face.vector.shape == (128,)


def test_the_cloud_is_in_the_face_frame(reconstruction):
    means = reconstruction.cloud.means.numpy()
    # a head about the origin, metres, the face (its front) towards +Z, +Y up, the neck under it
    assert np.abs(means.mean(axis=0)).max() < 0.06  # the face holds 70 % of them: z about 0.05
    extent = means.max(axis=0) - means.min(axis=0)
    assert 0.12 < extent[0] < 0.2 and 0.28 < extent[1] < 0.4
    assert 0.09 < means[:, 1].max() < 0.15 and -0.26 < means[:, 1].min() < -0.18
    frontmost = means[np.argmax(means[:, 2])]
    assert abs(frontmost[0]) < 0.02 and -0.08 < frontmost[1] < 0.0  # the nose
    centre = reconstruction.camera.centre.numpy()
    assert centre[2] > 0.3  # the photo was taken from in front of the face


def test_no_face_is_a_clear_error():
    with pytest.raises(NoFaceError, match="no face found"):
        reconstruct_face(data.coffee(), config=QUICK)
    with pytest.raises(NoFaceError, match="no face found"):
        reconstruct_face(np.full((64, 64, 3), 128, np.uint8), config=QUICK)


def test_a_face_too_small_names_the_minimum(astronaut):
    with pytest.raises(FaceSplatError, match="at least 120 are needed"):
        reconstruct_face(astronaut, config=FaceConfig(min_face_px=120, steps=0))


def test_several_faces_take_the_largest_and_say_so(astronaut):
    # the photo twice side by side, the right copy at 80 % size
    smaller = np.asarray(Image.fromarray(astronaut[:, 60:440]).resize((304, 410)))
    right = np.zeros((512, 304, 3), np.uint8)
    right[:410] = smaller
    pair = np.concatenate([astronaut[:, 60:440], right], axis=1)
    result = reconstruct_face(pair, config=QUICK)
    assert result.faces_found == 2
    assert result.notes == ["2 faces found; reconstructed the largest one"]
    assert result.face.box[2] < 380  # the left, larger copy


def test_a_large_photo_is_downscaled_and_says_so(astronaut):
    big = np.asarray(Image.fromarray(astronaut).resize((1200, 1200)))
    result = reconstruct_face(big, config=FaceConfig(steps=0, gaussians=2000, max_side=600))
    assert result.image.shape == (600, 600, 3) and result.mask.shape == (600, 600)
    assert result.camera.width == 600
    assert result.notes == ["photo downscaled from 1200x1200 to 600x600 (max_side)"]


def test_bad_arrays_and_settings_are_refused():
    with pytest.raises(FaceSplatError, match="uint8"):
        reconstruct_face(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(FaceSplatError, match="pixels per side"):
        reconstruct_face(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(FaceSplatError, match=r"FaceConfig\.which"):
        FaceConfig(which="smallest")
    with pytest.raises(FaceSplatError, match=r"FaceConfig\.steps"):
        FaceConfig(steps=-1)
    assert issubclass(FaceSplatError, ContinuumError)


def test_load_photo_names_the_file(tmp_path, astronaut):
    good = tmp_path / "face.png"
    Image.fromarray(astronaut).save(good)
    np.testing.assert_array_equal(load_photo(good), astronaut)

    buffer = io.BytesIO()
    Image.fromarray(astronaut).save(buffer, format="JPEG")
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(buffer.getvalue()[:2000])
    with pytest.raises(FaceSplatError, match=r"cut\.jpg.*corrupt or truncated"):
        load_photo(truncated)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(FaceSplatError, match=r"notes\.png.*not a PNG or JPEG"):
        load_photo(text)
    with pytest.raises(FaceSplatError, match=r"missing\.png.*does not exist"):
        load_photo(tmp_path / "missing.png")


def test_unseen_gaussians_take_their_mirror_partners_colour():
    # a row of points across the midline; the photo sees only the right half (x < 0)
    x = np.linspace(-0.05, 0.05, 11)
    means = np.stack([x, np.zeros(11), np.full(11, 0.1)], axis=1)
    photo = np.stack([np.linspace(0, 1, 11)] * 3, axis=1)  # a ramp, left to right
    seen = (x < 0).astype(float)
    partner = np.arange(11)[::-1]
    mirrored = initial_colours(photo, means, seen, partner, mirror=True)
    np.testing.assert_allclose(mirrored[x < 0], photo[x < 0])
    np.testing.assert_allclose(mirrored[x > 0], photo[partner][x > 0])
    # without the prior, the unseen take the nearest seen colour (the midline's neighbour)
    nearest = initial_colours(photo, means, seen, partner, mirror=False)
    np.testing.assert_allclose(nearest[x >= 0], np.tile(photo[4], (6, 1)))
    with pytest.raises(FaceSplatError, match="sees none"):
        initial_colours(photo, means, np.zeros(11), partner)


def test_the_rest_of_the_head_takes_its_colour_from_the_rest_of_the_head():
    # a line: face points at x < 0 (seen: skin), head points beyond (two seen: hair)
    x = np.linspace(0.0, 0.1, 11)
    means = np.stack([x, np.zeros(11), np.zeros(11)], axis=1)
    face = x < 0.045
    photo = np.where(face[:, None], [0.9, 0.6, 0.5], [0.1, 0.1, 0.1])
    seen = np.zeros(11)
    seen[:3] = 1.0  # skin
    seen[9:] = 1.0  # hair
    partner = np.arange(11)
    split = initial_colours(photo, means, seen, partner, mirror=False, parts=face.astype(int))
    np.testing.assert_allclose(split[face], np.tile(photo[0], (face.sum(), 1)))
    np.testing.assert_allclose(split[~face], np.tile(photo[10], ((~face).sum(), 1)))
    # the plain nearest-coloured fill, for reference: the skin runs out onto the head
    plain = initial_colours(photo, means, seen, partner, mirror=False)
    np.testing.assert_allclose(plain[5], photo[2])
    # a head with no colour of its own falls back to the face's
    none = initial_colours(photo, means, np.where(face, seen, 0.0), partner, parts=face.astype(int))
    np.testing.assert_allclose(none[~face], np.tile(photo[2], ((~face).sum(), 1)))


def test_the_gaussians_cover_face_head_and_neck_in_order():
    surface = head_surface(TEMPLATE, subdivisions=3)
    cloud, normals, parts = surface_gaussians(surface, count=3000, face_fraction=0.6)
    assert len(cloud) == len(normals) == len(parts) == 3000
    assert (parts == FACE).sum() == 1800 and (np.diff(parts) >= 0).all()
    # the rest spread evenly: as many per square metre on the head as on the neck
    rest_area = surface.mesh.area_faces[~surface.face_region].sum()
    head_density = (parts == HEAD).sum() / rest_area
    neck_density = (parts == NECK).sum() / surface.neck.area
    np.testing.assert_allclose(head_density, neck_density, rtol=0.02)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, rtol=1e-5)


def test_the_head_mask_stays_inside_the_head():
    covered = np.zeros((60, 60), dtype=bool)
    covered[10:50, 20:40] = True
    mask = head_mask(covered, face_width=100.0)  # a margin of 3 pixels
    assert mask.sum() == 34 * 14 and mask[13:47, 23:37].all()
    assert not (mask & ~covered).any()


def test_the_landmark_surface_reconstructs_the_face_alone(astronaut):
    bare = reconstruct_face(
        astronaut, config=FaceConfig(steps=0, gaussians=2000, surface="landmarks")
    )
    assert len(bare.cloud) == 2000 and bare.mask.any()
    means = bare.cloud.means.numpy()
    assert means[:, 2].min() > 0  # nothing behind the face: no head
    with pytest.raises(FaceSplatError, match="surface"):
        FaceConfig(surface="sphere")


def test_the_same_photo_gives_the_same_reconstruction(astronaut):
    # enough Gaussians that torch splits a scatter-add over their neighbours between threads
    config = FaceConfig(steps=30, gaussians=20000, subdivisions=3)
    first, second = (reconstruct_face(astronaut, config=config) for _ in range(2))
    np.testing.assert_array_equal(first.mask, second.mask)
    for name in ("sh", "means", "log_scales"):
        assert torch.equal(getattr(first.cloud, name), getattr(second.cloud, name)), name
