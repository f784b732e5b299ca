"""Images for the identity banks: checking arrays and decoding PNG/JPEG bytes at the boundary.

Every embedder takes what ``check_image`` returns: a C-contiguous ``uint8`` [H, W, 3] RGB array
with both sides in ``MIN_SIDE..MAX_SIDE`` (bridge/PROTOCOL.md section 15). Grey [H, W] (or
[H, W, 1]) is repeated into three channels and RGBA [H, W, 4] is composited over black, so a
render with a transparent background describes the same as one drawn on black.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from continuum.errors import IdentityError

MIN_SIDE = 8
MAX_SIDE = 4096
FORMATS = ("PNG", "JPEG")


def check_image(image: np.ndarray, *, name: str = "image") -> np.ndarray:
    """Check an image and return it as ``uint8`` [H, W, 3] RGB, C-contiguous.

    Args:
        image: ``uint8`` [H, W, 3] RGB, [H, W] or [H, W, 1] grey, or [H, W, 4] RGBA (straight
            alpha, composited over black); H and W in 8..4096. A valid array is returned as is.
        name: what the error messages call the argument.

    Returns:
        ``uint8`` [H, W, 3], C-contiguous.  # [H, W, 3]

    Raises:
        IdentityError: not a numpy array, a dtype other than uint8, a shape other than the
            above, or a side outside 8..4096; the message names the problem and the fix.
    """
    if not isinstance(image, np.ndarray):
        raise IdentityError(
            f"{name} must be a numpy uint8 array [H, W, 3], got {type(image).__name__}"
        )
    if image.dtype != np.uint8:
        raise IdentityError(
            f"{name} must have dtype uint8, got {image.dtype}; convert floats in 0..1 with "
            "(x * 255).round().astype(np.uint8)"
        )
    shape = image.shape
    if image.ndim == 2 or (image.ndim == 3 and shape[2] in (1, 3, 4)):
        height, width = shape[:2]
    else:
        raise IdentityError(
            f"{name} must have shape [H, W, 3] (or [H, W] grey, [H, W, 4] RGBA), got {list(shape)}"
        )
    if not (MIN_SIDE <= height <= MAX_SIDE and MIN_SIDE <= width <= MAX_SIDE):
        raise IdentityError(
            f"{name} must be {MIN_SIDE}..{MAX_SIDE} pixels per side, got {height}x{width} (HxW)"
        )
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    elif shape[2] == 4:
        alpha = image[:, :, 3:].astype(np.uint16)
        image = ((image[:, :, :3] * alpha + 127) // 255).astype(np.uint8)
    return np.ascontiguousarray(image)


def decode_image(data: bytes, *, name: str = "image") -> np.ndarray:
    """Decode PNG or JPEG bytes into a checked ``uint8`` [H, W, 3] RGB array.

    The size is checked from the header before any pixel is decoded, so a huge image costs
    nothing. Palette, grey and 16-bit images are converted to RGB; alpha is composited over
    black (as in ``check_image``).

    Args:
        data: the file's bytes.
        name: what the error messages call the argument.

    Returns:
        ``uint8`` [H, W, 3], C-contiguous.  # [H, W, 3]

    Raises:
        IdentityError: not bytes, not PNG or JPEG, corrupt or truncated data, or a side
            outside 8..4096.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise IdentityError(f"{name} must be PNG or JPEG bytes, got {type(data).__name__}")
    try:
        with Image.open(io.BytesIO(bytes(data)), formats=FORMATS) as picture:
            width, height = picture.size
            if not (MIN_SIDE <= height <= MAX_SIDE and MIN_SIDE <= width <= MAX_SIDE):
                raise IdentityError(
                    f"{name} must be {MIN_SIDE}..{MAX_SIDE} pixels per side, got "
                    f"{height}x{width} (HxW)"
                )
            has_alpha = picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info
            picture.load()
            if picture.mode.startswith("I;16") or picture.mode == "I":
                # 16-bit grey: keep the top 8 bits (Pillow's convert("L") would clip instead).
                grey = np.asarray(picture, dtype=np.uint32) >> 8
                array = np.clip(grey, 0, 255).astype(np.uint8)
            else:
                array = np.asarray(picture.convert("RGBA" if has_alpha else "RGB"))
    except UnidentifiedImageError as error:
        raise IdentityError(f"{name} is not a PNG or JPEG image ({len(data)} bytes)") from error
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise IdentityError(f"{name} is a corrupt or truncated PNG/JPEG: {error}") from error
    return check_image(array, name=name)
