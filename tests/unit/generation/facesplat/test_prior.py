import numpy as np
import pytest

from continuum.generation.facesplat.prior import (
    MIRROR_PAIRS,
    SHAPE_MODE_NAMES,
    SHAPE_MODES,
    TEMPLATE,
    mirror_index,
    shaped_landmarks,
)

FLIP = np.array([-1.0, 1.0, 1.0])


def test_the_template_is_left_right_symmetric():
    np.testing.assert_allclose(TEMPLATE[mirror_index()] * FLIP, TEMPLATE, atol=1e-12)
    midline = np.setdiff1d(np.arange(68), np.array(MIRROR_PAIRS).ravel())
    assert np.all(TEMPLATE[midline, 0] == 0)
    # right-side points (the subject's right) lie at x < 0 in glTF axes
    assert all(TEMPLATE[right, 0] < 0 for right, _ in MIRROR_PAIRS)


def test_the_template_has_adult_proportions():
    biocular = np.linalg.norm(TEMPLATE[45] - TEMPLATE[36])
    intercanthal = np.linalg.norm(TEMPLATE[42] - TEMPLATE[39])
    mouth = np.linalg.norm(TEMPLATE[54] - TEMPLATE[48])
    assert biocular == pytest.approx(0.09, abs=0.003)
    assert intercanthal == pytest.approx(0.032, abs=0.002)
    assert mouth == pytest.approx(0.05, abs=0.002)
    # the nose tip is the frontmost point, the face in front of the head centre
    assert np.argmax(TEMPLATE[:, 2]) == 30
    assert TEMPLATE[:, 2].min() > 0


def test_every_shape_mode_is_symmetric_and_moves_something():
    assert SHAPE_MODES.shape == (len(SHAPE_MODE_NAMES), 68, 3)
    for name, mode in zip(SHAPE_MODE_NAMES, SHAPE_MODES, strict=True):
        np.testing.assert_allclose(mode[mirror_index()] * FLIP, mode, atol=1e-12, err_msg=name)
        assert 5e-4 < np.abs(mode).max() < 0.01, name


def test_shaped_landmarks_scales_and_checks():
    zero = np.zeros(len(SHAPE_MODES))
    np.testing.assert_allclose(shaped_landmarks(zero), TEMPLATE)
    np.testing.assert_allclose(shaped_landmarks(zero, scale=1.1), 1.1 * TEMPLATE)
    with pytest.raises(ValueError, match="one per shape mode"):
        shaped_landmarks(np.zeros(3))
