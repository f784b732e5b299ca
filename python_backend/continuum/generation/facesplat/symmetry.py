"""Left-right symmetry: each Gaussian's mirror partner across the face's midline plane.

The face frame's midline plane is x = 0 (see ``prior``): the partner of the Gaussian at
(x, y, z) is the one nearest to (-x, y, z). The fitted surface is nearly but not exactly
symmetric (the shape and the landmarks are a little asymmetric), so the partner is a nearest
neighbour, with its distance kept to tell a good pairing from a poor one.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def mirror_partners(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each point's nearest neighbour to its mirror image across x = 0.

    Args:
        points: positions in the face frame  # [N, 3]

    Returns:
        partner: index of the nearest point to each mirror image  # [N] int64
        distance: the distance from the mirror image to that point  # [N]
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3 or len(points) == 0:
        raise ValueError(f"points must have shape [N, 3] with N > 0, got {list(points.shape)}")
    distance, partner = cKDTree(points).query(points * (-1.0, 1.0, 1.0))
    return partner.astype(np.int64), distance
