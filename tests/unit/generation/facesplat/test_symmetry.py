import numpy as np
import pytest

from continuum.generation.facesplat import _reference
from continuum.generation.facesplat.symmetry import mirror_partners


def test_it_matches_the_brute_force_reference():
    points = np.random.default_rng(0).normal(size=(300, 3))
    partner, distance = mirror_partners(points)
    expected_partner, expected_distance = _reference.mirror_partners(points)
    np.testing.assert_array_equal(partner, expected_partner)
    np.testing.assert_allclose(distance, expected_distance, rtol=1e-12)


def test_a_symmetric_set_pairs_each_point_with_its_mirror():
    right = np.random.default_rng(1).uniform(-1, 0, size=(50, 3)) * (1.0, -1.0, 1.0)
    right[:, 0] -= 0.01  # off the midline
    points = np.concatenate([right, right * (-1.0, 1.0, 1.0)])
    partner, distance = mirror_partners(points)
    np.testing.assert_array_equal(partner, np.r_[np.arange(50, 100), np.arange(50)])
    assert distance.max() < 1e-12
    np.testing.assert_array_equal(partner[partner], np.arange(100))


def test_bad_points_are_refused():
    with pytest.raises(ValueError, match=r"\[N, 3\]"):
        mirror_partners(np.zeros((0, 3)))
