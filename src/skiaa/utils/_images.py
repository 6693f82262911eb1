"""Checks and conversions of image arrays shared by the datasets and the estimators."""

import numpy as np
from PIL import Image

ACCEPTED_LAYOUTS = (
    "Accepted layouts: uint8 (n, H, W, C) with C in 1, 3, 4 (0-255), float (n, C, H, W) "
    "with intensities in [0, 1]."
)


def check_float_range(X, name, *, rows=True):
    """Reject NaN/infinite values and intensities outside [0, 1] in float images.

    Checked in chunks so that a memory-mapped array is never loaded at once.
    """
    X = np.asarray(X) if not isinstance(X, np.ndarray) else X
    n = len(X) if rows else 1
    flat = X.reshape(n, -1) if rows else X.reshape(1, -1)
    bad_finite = np.zeros(n, dtype=bool)
    bad_range = np.zeros(n, dtype=bool)
    lo, hi = np.inf, -np.inf
    step = max(1, 2**22 // max(1, flat.shape[1]))  # about 16 MB of float32 at a time
    for start in range(0, n, step):
        chunk = np.asarray(flat[start : start + step])
        finite = np.isfinite(chunk)
        bad_finite[start : start + step] = ~finite.all(axis=1)
        clean = np.where(finite, chunk, 0.5)
        cmin, cmax = clean.min(axis=1), clean.max(axis=1)
        bad_range[start : start + step] = (cmin < 0) | (cmax > 1)
        lo, hi = min(lo, float(cmin.min())), max(hi, float(cmax.max()))
    where = (lambda m: f" in rows {describe_rows(m)}") if rows else (lambda m: "")
    if bad_finite.any():
        raise ValueError(f"{name} has NaN or infinite values{where(bad_finite)}.")
    if bad_range.any():
        scale = " (0-255 intensities? divide by 255)" if hi > 1 and hi <= 255 else ""
        raise ValueError(
            f"float images must have intensities in [0, 1], but {name} has values in "
            f"[{lo:g}, {hi:g}]{where(bad_range)}{scale}; uint8 images are read as 0-255."
        )


def describe_rows(mask, limit=10):
    """``[i, j, ...] (k in all)`` for the True rows of ``mask``."""
    idx = np.flatnonzero(mask)
    shown = ", ".join(str(i) for i in idx[:limit])
    return f"[{shown}{', ...' if len(idx) > limit else ''}] ({len(idx)} in all)"


def rgb_uint8(img):
    """One uint8 (H, W[, C]) image as RGB: grey repeated, alpha dropped."""
    img = np.asarray(img)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[-1] not in (1, 3, 4):
        raise ValueError(
            f"expected an (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) image, got {img.shape}."
        )
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    return np.ascontiguousarray(img[..., :3])


def resize_uint8(img, size):
    """Bicubic resize of one uint8 (H, W, 3) image to ``size`` x ``size`` (None: as is)."""
    if size is None or img.shape[:2] == (size, size):
        return img
    return np.asarray(Image.fromarray(img).resize((size, size), Image.BICUBIC))
