"""Checks and conversions of image arrays shared by the datasets and the estimators.

:func:`open_image` is the one place where an image file (a dermoscopic image or
a mask) becomes an array: it reads what the file *means*, whatever way it is
stored. Pillow's own array of a file is not always that: a palette ("P") image
gives palette indices, not colours; a 16-bit greyscale PNG saturates at 255
under ``convert("RGB")``; a float TIFF in [0, 1] converts to zeros and ones;
and an image over ``PIL.Image.MAX_IMAGE_PIXELS`` raises
``DecompressionBombError``, which is not a ``ValueError`` and does not name the
file.
"""

import numpy as np
from PIL import Image, TiffImagePlugin

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


#: Modes whose values are 8-bit intensities, read as they are.
_EIGHT_BIT_MODES = ("L", "LA", "RGB", "RGBA")
#: Modes converted by Pillow to RGB (colour spaces, not values, differ).
_RGB_MODES = ("CMYK", "YCbCr", "RGBX")
#: Pillow's 16-bit greyscale modes (unsigned; the suffix is the byte order).
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
_UNDERSTOOD = (
    '"1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "YCbCr", "RGBX", '
    '16-bit grey ("I;16", or "I" from a 16-bit PNG or TIFF), float grey ("F") in [0, 1]'
)


def _bits_of_int_image(img):
    """Bits per sample of a mode "I" image: 16 for PNG, the TIFF tag, else None."""
    if img.format == "PNG":
        return 16  # PNG stores at most 16 bits per sample; Pillow widens them to "I"
    tags = getattr(img, "tag_v2", None)
    if isinstance(tags, TiffImagePlugin.ImageFileDirectory_v2):
        bits = tags.get(258)  # BitsPerSample
        signed = tags.get(339, (1,))[0] == 2  # SampleFormat 2: signed integer
        if bits is not None and tuple(bits)[0] == 16 and not signed:
            return 16
    return None


def open_image(path, *, kind="image", palette_indices=False):
    """Decode one image file to an array of what it shows, and its full-scale value.

    Parameters
    ----------
    path : str or path-like
        Any file Pillow reads.
    kind : str, default="image"
        What the file is ("image", "mask"), as named in error messages.
    palette_indices : bool, default=False
        Read a palette image's indices instead of its colours: the convention
        of label maps (PASCAL VOC), whose palette only colours the classes.

    Returns
    -------
    array : ndarray of shape (H, W) or (H, W, C)
        Grey (H, W), grey with alpha (H, W, 2), RGB (H, W, 3) or RGBA
        (H, W, 4): uint8 for 8-bit files and palette images (converted through
        their palette, so the array holds colours, not indices), uint16 for
        16-bit grey, float32 in [0, 1] for float grey.
    full_scale : int or float
        The value of full intensity in ``array``: 255, 65535 or 1.0.

    Raises
    ------
    ValueError
        If the file cannot be read, its mode is not understood (a 32-bit
        integer TIFF, a premultiplied-alpha image...; the message names the
        mode), a float image holds NaN or values outside [0, 1], or the image
        is over Pillow's decompression-bomb limit (the message says how to
        raise it). Every message names the file.
    """
    try:
        with Image.open(path) as img:
            img.load()
            return pil_image_array(img, path, palette_indices=palette_indices)
    except Image.DecompressionBombError as exc:
        raise ValueError(
            f"{path}: {exc} If the file is trusted, raise Pillow's limit before reading it: "
            f"PIL.Image.MAX_IMAGE_PIXELS = <pixels> (now {Image.MAX_IMAGE_PIXELS}; "
            "None removes the check)."
        ) from None
    except (OSError, SyntaxError) as exc:
        # FileNotFoundError and PIL's UnidentifiedImageError are OSErrors; PIL
        # reports truncated or corrupt files with OSError or SyntaxError.
        raise ValueError(f"cannot read {kind} file {path}: {exc}") from exc


def pil_image_array(img, what, *, palette_indices=False):
    """The array and full-scale value of an open PIL image (see :func:`open_image`).

    ``what`` names the image in error messages.
    """
    mode = img.mode
    if mode == "P" and palette_indices:
        return np.asarray(img, dtype=np.uint8), 255
    if mode == "1":
        img, mode = img.convert("L"), "L"
    elif mode in ("P", "PA"):
        # Through the palette: what matters is the colour, not the index
        # (an inverted palette must not invert the image).
        mode = "RGBA" if mode == "PA" or "transparency" in img.info else "RGB"
        img = img.convert(mode)
    elif mode in _RGB_MODES:
        img, mode = img.convert("RGB"), "RGB"
    if mode in _EIGHT_BIT_MODES:
        return np.asarray(img, dtype=np.uint8), 255
    if mode in _SIXTEEN_BIT_MODES or (mode == "I" and _bits_of_int_image(img) == 16):
        return np.asarray(img).astype(np.uint16), 65535
    if mode == "F":
        array = np.asarray(img, dtype=np.float32)
        finite = np.isfinite(array)
        clean = array[finite]
        if not finite.all() or clean.min(initial=0) < 0 or clean.max(initial=0) > 1:
            found = f"[{clean.min():g}, {clean.max():g}]" if clean.size else "no finite value"
            nan = " and NaN or infinite values" if not finite.all() else ""
            raise ValueError(
                f"{what}: float (mode 'F') image with values in {found}{nan}; "
                "float images must hold intensities in [0, 1]"
            )
        return array, 1.0
    raise ValueError(
        f"{what}: image mode {mode!r} is not understood; skiaa reads {_UNDERSTOOD}. "
        "Convert the file to 8-bit grey or RGB."
    )


def image_to_uint8(array, full_scale):
    """An array of :func:`open_image` as uint8 RGB (H, W, 3).

    Scaled from its full-scale value to 255, grey repeated, alpha dropped.
    """
    if full_scale != 255:
        array = np.rint(np.asarray(array, dtype=np.float64) * (255.0 / full_scale))
        array = array.astype(np.uint8)
    if array.ndim == 3 and array.shape[2] in (2, 4):
        array = array[..., :-1]
    if array.ndim == 2:
        array = array[:, :, None]
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    return np.ascontiguousarray(array)
