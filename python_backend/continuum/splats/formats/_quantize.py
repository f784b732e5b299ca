"""Quantisation shared by the 8-bit formats: C-style rounding, 8-bit opacity, smallest-three."""

from __future__ import annotations

import numpy as np

# An opacity byte b stands for sigmoid values around b / 255. Bytes 0 and 255 decode to the
# logits of 0.25/255 and 254.75/255 (about -6.93 and +6.93) rather than to -inf/+inf as
# logit(b / 255) would, so decoded clouds stay finite; encoding them again gives the same byte.
_OPACITY_EDGE = 0.25 / 255


def round_half_away(x: np.ndarray) -> np.ndarray:
    """Round to the nearest integer, halves away from zero, as C's ``round`` (numpy's rounds
    halves to even)."""
    return np.copysign(np.floor(np.abs(x) + 0.5), x)


def to_u8(x: np.ndarray) -> np.ndarray:
    """Round (halves away from zero) and clamp to [0, 255]  # same shape, uint8"""
    return np.floor(np.clip(x, 0, 255) + 0.5).astype(np.uint8)  # = clip(round_half_away(x))


def opacity_to_u8(logits: np.ndarray) -> np.ndarray:
    """Opacity logits to bytes: sigmoid * 255, rounded and clamped  # [N] -> [N] uint8"""
    sigmoid = 0.5 + 0.5 * np.tanh(0.5 * logits.astype(np.float64))  # no overflow for any x
    return to_u8(sigmoid * 255)


def opacity_from_u8(alpha: np.ndarray) -> np.ndarray:
    """Bytes (sigmoid * 255) to opacity logits, finite at 0 and 255  # [N] -> [N] float64"""
    p = np.clip(alpha.astype(np.float64) / 255, _OPACITY_EDGE, 1 - _OPACITY_EDGE)
    return np.log(p / (1 - p))


def smallest_three(others: np.ndarray, largest: np.ndarray) -> np.ndarray:
    """Unit quaternions from their three smallest components and the index of the largest.

    Args:
        others: the components other than the largest, in increasing index order  # [N, 3]
        largest: index 0..3 of the largest component, which is rebuilt as
            sqrt(1 - |others|^2) (non-negative; clamped at 0 for inconsistent input)  # [N]
    Returns:
        the components in index order  # [N, 4]
    """
    n = len(largest)
    slots = np.arange(3)[None, :]
    columns = slots + (slots >= largest[:, None])  # slot k sits at index k, or k + 1 past it
    out = np.empty((n, 4), dtype=np.float64)
    out[np.arange(n)[:, None], columns] = others
    out[np.arange(n), largest] = np.sqrt(np.maximum(0.0, 1.0 - np.square(others).sum(axis=1)))
    return out
