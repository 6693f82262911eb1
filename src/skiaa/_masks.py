"""Reading and validating binary segmentation masks (shared by agreement, consensus, CLI).

Masks reach skiaa as boolean arrays, as 0/1 or 0/255 integer (or float) arrays, or
as image files (PNG). Everything is converted to boolean here, once, with a
``ValueError`` that names the offending image or file, so that the metric code
below never has to guess what a value of 128 means.
"""

from pathlib import Path

import numpy as np

from .utils import is_path

__all__ = ["as_binary_mask", "check_mask_stack", "read_mask"]


def _where(image_index=None, what=None):
    parts = []
    if image_index is not None:
        parts.append(f"image {image_index}")
    if what is not None:
        parts.append(str(what))
    return (", ".join(parts) + ": ") if parts else ""


def as_binary_mask(mask, *, what=None):
    """Convert one mask to a boolean array, refusing non-binary values.

    Parameters
    ----------
    mask : array-like
        Boolean, or numeric with values in {0, 1} or in {0, 255}.
    what : str, default=None
        Name of the mask (a file name, ``"mask 2"``...) used in error messages.

    Returns
    -------
    mask : ndarray of bool
        ``mask != 0``, C-contiguous.

    Raises
    ------
    ValueError
        If the mask holds any value other than 0/1 or 0/255 (mixing 1 and 255
        included), NaN, or is 0-dimensional.

    Examples
    --------
    >>> from skiaa._masks import as_binary_mask
    >>> as_binary_mask([[0, 255], [255, 0]])
    array([[False,  True],
           [ True, False]])
    """
    arr = np.asarray(mask)
    prefix = _where(what=what)
    if arr.ndim == 0:
        raise ValueError(f"{prefix}a mask must be an array, got a scalar")
    if arr.dtype == bool:
        return np.ascontiguousarray(arr)
    if arr.dtype.kind not in "uif":
        raise ValueError(f"{prefix}a mask must be boolean or numeric, got dtype {arr.dtype}")
    if arr.size == 0:
        return np.zeros(arr.shape, dtype=bool)
    # max/min and two counts are far cheaper than np.unique (a sort) on 12-Mpixel masks.
    high = arr.max()
    low = arr.min()
    nonzero = arr != 0
    n_nonzero = np.count_nonzero(nonzero)
    valid = (
        not np.isnan(high)
        and low >= 0
        and high in (0, 1, 255)
        and (n_nonzero == 0 or np.count_nonzero(arr == high) == n_nonzero)
    )
    if not valid:
        found = np.unique(arr)
        shown = ", ".join(str(v) for v in found[:6]) + (", ..." if found.size > 6 else "")
        raise ValueError(f"{prefix}mask values must be {{0, 1}} or {{0, 255}}, found {{{shown}}}")
    return nonzero


def read_mask(path):
    """Read a binary mask from an image file.

    Parameters
    ----------
    path : str or path-like
        Image file readable by Pillow (PNG in IMA++). Grey-level masks are
        used as is; RGB(A) masks are accepted when their three colour channels
        are equal (a grey mask saved as colour) and their alpha channel, if
        any, is fully opaque.

    Returns
    -------
    mask : ndarray of bool, shape (H, W)

    Raises
    ------
    ValueError
        If the file is missing or unreadable, is a colour image whose channels
        differ, or holds values other than 0/1 or 0/255. The message names the
        file.

    See Also
    --------
    check_mask_stack : validate the masks of one image together.

    Examples
    --------
    >>> import numpy as np
    >>> from PIL import Image
    >>> from skiaa._masks import read_mask
    >>> Image.fromarray(np.array([[0, 255], [0, 0]], dtype=np.uint8)).save("m.png")
    >>> read_mask("m.png")
    array([[False,  True],
           [False, False]])
    """
    from PIL import Image

    path = Path(path)
    try:
        with Image.open(path) as img:
            img.load()
            arr = np.asarray(img)
    except (OSError, ValueError) as exc:  # FileNotFoundError and PIL's errors are OSErrors
        raise ValueError(f"cannot read mask file {path}: {exc}") from exc
    if arr.ndim == 3:
        if arr.shape[2] == 4:
            if np.any(arr[..., 3] != arr[..., 3].max()) or arr[..., 3].max() == 0:
                raise ValueError(f"{path}: RGBA mask with a non-opaque alpha channel")
            arr = arr[..., :3]
        if arr.shape[2] in (2, 3) and not all(
            np.array_equal(arr[..., 0], arr[..., c]) for c in range(1, min(arr.shape[2], 3))
        ):
            raise ValueError(f"{path}: colour mask whose channels differ; expected a grey mask")
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise ValueError(f"{path}: a mask image must be 2-D, got shape {arr.shape}")
    return as_binary_mask(arr, what=path)


def check_mask_stack(masks, *, image_index=None, min_masks=2):
    """Validate the masks of one image and stack them as booleans.

    Parameters
    ----------
    masks : array-like of shape (k, H, W), or sequence of arrays or paths
        The ``k`` masks of one image: a 3-D array, or a list whose items are
        2-D arrays (bool, 0/1 or 0/255) or mask file paths (read with
        :func:`read_mask`).
    image_index : int or str, default=None
        Position (or id) of the image, named in every error message.
    min_masks : int, default=2
        Fewest masks accepted.

    Returns
    -------
    stack : ndarray of bool, shape (k, H, W)

    Raises
    ------
    ValueError
        If there are fewer than ``min_masks`` masks, a mask is not 2-D, the
        masks differ in shape, a value is not binary, or a file cannot be read.
        The message names the image and the mask.

    See Also
    --------
    read_mask : read one mask file.

    Examples
    --------
    >>> import numpy as np
    >>> from skiaa._masks import check_mask_stack
    >>> check_mask_stack([np.eye(2, dtype=int), np.ones((2, 2), dtype=int)]).shape
    (2, 2, 2)
    >>> check_mask_stack([np.eye(2), np.ones((3, 3))], image_index=7)
    Traceback (most recent call last):
        ...
    ValueError: image 7: all masks of an image must have the same shape, got (2, 2) and (3, 3)
    """
    prefix = _where(image_index)
    if is_path(masks):
        raise ValueError(f"{prefix}expected a sequence of masks or paths, got one path {masks!r}")
    if isinstance(masks, np.ndarray) and masks.dtype != object:
        if masks.ndim != 3:
            raise ValueError(
                f"{prefix}a mask stack must be 3-D (k, H, W), got shape {masks.shape}"
            )
        items = list(masks)
    else:
        try:
            items = list(masks)
        except TypeError as exc:
            raise ValueError(
                f"{prefix}expected a sequence of masks, got {type(masks).__name__}"
            ) from exc
    if len(items) < min_masks:
        raise ValueError(f"{prefix}needs at least {min_masks} masks, got {len(items)}")
    out = []
    for j, item in enumerate(items):
        try:
            mask = read_mask(item) if is_path(item) else as_binary_mask(item, what=f"mask {j}")
        except ValueError as exc:
            raise ValueError(f"{prefix}{exc}") from exc
        if mask.ndim != 2:
            raise ValueError(f"{prefix}mask {j} must be 2-D, got shape {mask.shape}")
        if out and mask.shape != out[0].shape:
            raise ValueError(
                f"{prefix}all masks of an image must have the same shape, "
                f"got {out[0].shape} and {mask.shape}"
            )
        out.append(mask)
    if not out:
        return np.zeros((0, 0, 0), dtype=bool)
    return np.stack(out)
