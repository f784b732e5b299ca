import numpy as np
import pytest
from skimage import data

from continuum.generation.facesplat.person import person_mask
from continuum.generation.facesplat.reconstruct import face_mask
from continuum.identity.embedders import FaceEmbedder


@pytest.fixture(scope="module")
def astronaut():
    image = data.astronaut()
    face = FaceEmbedder().detect(image)[0]
    inside = face_mask(face.landmarks, image.shape[1], image.shape[0])
    return image, face, inside


def test_a_head_on_a_plain_background_is_cut_out():
    rows, columns = np.mgrid[:200, :200]
    head = (columns - 100) ** 2 / 45**2 + (rows - 90) ** 2 / 60**2 < 1
    rng = np.random.default_rng(0)
    image = np.where(head[:, :, None], [200, 150, 120], [60, 90, 160]).astype(np.float64)
    image = np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)
    face = (np.abs(columns - 100) < 25) & (np.abs(rows - 100) < 30)
    person = person_mask(image, (70, 65, 131, 136), face)
    overlap = (person & head).sum() / (person | head).sum()
    assert overlap > 0.95


def test_the_astronaut_keeps_face_and_hair_and_loses_the_backdrop(astronaut):
    image, face, inside = astronaut
    person = person_mask(image, face.box, inside)
    assert person[inside].all()
    x0, y0, x1, y1 = face.box
    width, height = x1 - x0, y1 - y0
    centre = (x0 + x1) // 2
    # her hair above the forehead; the grey backdrop and the flag beside her head
    assert person[y0 - height // 4, centre]
    assert not person[y0, x0 - width]
    assert not person[y0, x1 + width]
    assert not person[:40, :80].any() and not person[:40, -80:].any()


def test_the_same_photo_gives_the_same_mask(astronaut):
    image, face, inside = astronaut
    first = person_mask(image, face.box, inside)
    np.testing.assert_array_equal(first, person_mask(image, face.box, inside))


def test_a_face_mask_of_another_size_is_refused(astronaut):
    image, face, _ = astronaut
    with pytest.raises(ValueError, match="must match the image"):
        person_mask(image, face.box, np.zeros((10, 10), bool))
