"""The glTF <-> MuJoCo conversion: a fixed +90 degree turn about X."""

from __future__ import annotations

import numpy as np

from continuum.physics import _axes


def _random_quats(n: int, seed: int = 0) -> np.ndarray:
    q = np.random.default_rng(seed).normal(size=(n, 4))
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def test_up_is_z_in_mujoco():
    assert np.allclose(_axes.to_mj_vec([0, 1, 0]), [0, 0, 1])  # glTF up -> MuJoCo up
    assert np.allclose(_axes.to_mj_vec([0, 0, 1]), [0, -1, 0])  # glTF +Z (towards the viewer)
    assert np.allclose(_axes.to_mj_vec([1, 0, 0]), [1, 0, 0])


def test_vectors_round_trip():
    v = np.random.default_rng(1).normal(size=(10, 3))
    assert np.array_equal(_axes.from_mj_vec(_axes.to_mj_vec(v)), v)


def test_quaternions_round_trip_and_match_the_reference_product():
    q = _random_quats(50)  # x, y, z, w
    mj = _axes.to_mj_quat(q)
    back = _axes.from_mj_quat(mj)
    assert np.allclose(back, q, atol=1e-12)
    # from_mj_quat's written-out product equals the plain Hamilton product with the inverse turn.
    reference = _axes.quat_mul(_axes.WORLD_TURN_INV, mj)
    assert np.allclose(back, np.concatenate([reference[:, 1:], reference[:, :1]], axis=1))


def test_a_rotation_means_the_same_turn_in_both_frames():
    q_gltf = _random_quats(1, seed=3)[0]
    v_local = np.array([0.3, -0.2, 0.9])
    # Rotate in glTF, then convert; or convert the quaternion and rotate the converted vector.
    rotated_gltf = _axes.quat_rotate(_axes.xyzw_to_wxyz(q_gltf), v_local)
    q_mj = _axes.to_mj_quat(q_gltf)
    # A MuJoCo body frame is the entity's glTF frame, so the local vector is not converted.
    rotated_mj = _axes.quat_rotate(q_mj, v_local)
    assert np.allclose(_axes.to_mj_vec(rotated_gltf), rotated_mj)


def test_z_to_y_turns_mujoco_axis_onto_the_entity_up():
    assert np.allclose(_axes.quat_rotate(_axes.Z_TO_Y, [0, 0, 1]), [0, 1, 0])
