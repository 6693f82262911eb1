"""Reading and validating binary segmentation masks (shared by agreement, consensus, CLI).

Masks reach skiaa as boolean arrays of any dimension (2-D images, 3-D volumes),
as 0/1 or 0/255 integer (or float) arrays, or as files: images (PNG), NumPy
arrays (``.npy``) or NIfTI volumes (``.nii``, ``.nii.gz``, read with nibabel,
the ``skiaa[nifti]`` extra; their voxel size becomes the metrics' spacing).
Everything is converted to boolean here, once, with a
``ValueError`` that names the offending image or file, so that the metric code
below never has to guess what a value of 128 means.
"""

from pathlib import Path

import numpy as np

from .utils import is_path

__all__ = [
    "MASK_FILE_EXTENSIONS",
    "as_binary_mask",
    "as_label_map",
    "check_mask_stack",
    "load_mask_stack",
    "read_mask",
    "read_mask_and_spacing",
]

#: File extensions :func:`read_mask` reads (compared case-insensitively).
MASK_FILE_EXTENSIONS = (".png", ".npy", ".nii", ".nii.gz")


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
    prefix = _where(what=what)
    try:
        arr = np.asarray(mask)
    except ValueError as exc:
        # numpy's "inhomogeneous shape" for nested lists of unequal lengths.
        raise ValueError(
            f"{prefix}a mask must be a rectangular array (rows of equal length), got "
            f"nested sequences of unequal lengths ({exc})"
        ) from None
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


def as_label_map(mask, *, what=None):
    """Convert one label map (one class value per pixel) to a non-negative integer array.

    Parameters
    ----------
    mask : array-like
        Integer (or boolean, or float holding whole numbers) class values,
        non-negative; 0 is usually the background.
    what : str, default=None
        Name of the map used in error messages.

    Returns
    -------
    labels : ndarray of int, C-contiguous
        The values, as an unsigned or signed integer array (booleans become 0/1).

    Raises
    ------
    ValueError
        If a value is negative, NaN or not a whole number, or the array is
        0-dimensional or not numeric.

    Examples
    --------
    >>> from skiaa._masks import as_label_map
    >>> as_label_map([[0, 2], [1.0, 0]])
    array([[0, 2],
           [1, 0]])
    """
    prefix = _where(what=what)
    try:
        arr = np.asarray(mask)
    except ValueError as exc:
        raise ValueError(
            f"{prefix}a label map must be a rectangular array (rows of equal length), got "
            f"nested sequences of unequal lengths ({exc})"
        ) from None
    if arr.ndim == 0:
        raise ValueError(f"{prefix}a label map must be an array, got a scalar")
    if arr.dtype == bool:
        return np.ascontiguousarray(arr, dtype=np.uint8)
    if arr.dtype.kind not in "uif":
        raise ValueError(f"{prefix}a label map must be numeric, got dtype {arr.dtype}")
    if arr.size and arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            bad = arr[~np.isfinite(arr) | (arr != np.round(arr))][:3]
            raise ValueError(
                f"{prefix}label values must be whole numbers, found {', '.join(map(str, bad))}"
            )
        arr = arr.astype(np.int64)
    if arr.size and arr.dtype.kind == "i" and arr.min() < 0:
        raise ValueError(f"{prefix}label values must be non-negative, found {arr.min()}")
    return np.ascontiguousarray(arr)


def _suffix(path):
    name = Path(path).name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else Path(name).suffix


def _read_npy(path):
    try:
        # allow_pickle=False: a mask file must never run code when read.
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read mask file {path}: {exc}") from exc


def _read_nifti(path):
    try:
        import nibabel
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError(
            f"reading NIfTI masks ({path.name}) needs nibabel: pip install 'skiaa[nifti]'"
        ) from exc
    try:
        img = nibabel.load(path)
        # The stored array (no scaling by scl_slope: a mask is its stored labels).
        arr = np.asarray(img.dataobj.get_unscaled())
        zooms = tuple(float(z) for z in img.header.get_zooms()[: arr.ndim])
    except Exception as exc:  # nibabel raises its own error types for broken files
        raise ValueError(f"cannot read mask file {path}: {exc}") from exc
    if arr.ndim == 4 and arr.shape[3] == 1:  # a single-frame 4-D volume
        arr = arr[..., 0]
    spacing = zooms[: arr.ndim] if all(z > 0 for z in zooms[: arr.ndim]) else None
    return arr, spacing


def _read_image(path):
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.load()
            arr = np.asarray(img)
    except (OSError, ValueError) as exc:  # FileNotFoundError and PIL's errors are OSErrors
        raise ValueError(f"cannot read mask file {path}: {exc}") from exc
    if arr.ndim == 3:
        if arr.shape[2] in (2, 4):  # grey + alpha (LA) or RGBA
            # Alpha must be fully opaque everywhere: a uniform 50% alpha is as
            # ambiguous as a varying one (is the mask in the colour or in the alpha?).
            alpha = arr[..., -1]
            opaque = np.iinfo(arr.dtype).max if arr.dtype.kind in "ui" else 1.0
            if np.any(alpha != opaque):
                found = np.unique(alpha)
                shown = ", ".join(str(v) for v in found[:4]) + (", ..." if found.size > 4 else "")
                raise ValueError(
                    f"{path}: mask with an alpha channel that is not fully opaque "
                    f"(alpha values {{{shown}}}, expected {opaque} everywhere); save the "
                    "mask as a grey image, or with alpha opaque"
                )
            arr = arr[..., :-1]
        if arr.shape[2] > 1 and not all(
            np.array_equal(arr[..., 0], arr[..., c]) for c in range(1, arr.shape[2])
        ):
            raise ValueError(f"{path}: colour mask whose channels differ; expected a grey mask")
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise ValueError(f"{path}: a mask image must be 2-D, got shape {arr.shape}")
    return arr


def read_mask_and_spacing(path, *, labels=False):
    """Read a binary mask file and the voxel size it stores (NIfTI), or None.

    See :func:`read_mask`; the spacing is the NIfTI header's voxel size (one
    number per axis of the mask), None for PNG and ``.npy`` files. With
    ``labels=True`` the file is a label map, checked by :func:`as_label_map`.
    """
    path = Path(path)
    kind = _suffix(path)
    spacing = None
    if kind == ".npy":
        arr = _read_npy(path)
    elif kind in (".nii", ".nii.gz"):
        if not path.is_file():
            raise ValueError(f"cannot read mask file {path}: no such file")
        arr, spacing = _read_nifti(path)
    else:
        arr = _read_image(path)
    if arr.ndim < 2:
        raise ValueError(f"{path}: a mask must be 2-D or more, got shape {arr.shape}")
    convert = as_label_map if labels else as_binary_mask
    return convert(arr, what=path), spacing


def read_mask(path):
    """Read a binary mask from a file.

    Parameters
    ----------
    path : str or path-like
        An image file readable by Pillow (PNG in IMA++), a NumPy ``.npy``
        array (any dimension >= 2, read without pickle) or a NIfTI volume
        (``.nii``, ``.nii.gz``; needs nibabel, the ``skiaa[nifti]`` extra).
        Grey-level images are used as is; RGB(A) and grey-with-alpha images
        are accepted when their colour channels are equal (a grey mask saved
        as colour) and their alpha channel, if any, is fully opaque (255
        everywhere for 8-bit images).

    Returns
    -------
    mask : ndarray of bool, shape (H, W) or (D, H, W)...

    Raises
    ------
    ValueError
        If the file is missing or unreadable, is a colour image whose channels
        differ, has an alpha channel that is not fully opaque, or holds values
        other than 0/1 or 0/255. The message names the file.

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
    return read_mask_and_spacing(path)[0]


def load_mask_stack(masks, *, image_index=None, min_masks=2, labels=False):
    """Validate the masks of one image, stack them, and give the spacing their files store.

    The engine behind :func:`check_mask_stack`. Returns ``(stack, spacing)``:
    ``spacing`` is the voxel size of the NIfTI files among ``masks`` (they must
    agree), or None when no mask carries one. With ``labels=True`` the masks
    are label maps (:func:`as_label_map`) and the stack is an integer array.
    """
    prefix = _where(image_index)
    if is_path(masks):
        raise ValueError(f"{prefix}expected a sequence of masks or paths, got one path {masks!r}")
    if isinstance(masks, np.ndarray) and masks.dtype != object:
        if masks.ndim < 3:
            raise ValueError(
                f"{prefix}a mask stack must be at least 3-D (k, H, W) or (k, D, H, W)..., "
                f"got shape {masks.shape}"
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
    spacing, spacing_from = None, None
    for j, item in enumerate(items):
        try:
            if is_path(item):
                mask, found = read_mask_and_spacing(item, labels=labels)
            elif labels:
                mask, found = as_label_map(item, what=f"mask {j}"), None
            else:
                mask, found = as_binary_mask(item, what=f"mask {j}"), None
        except ValueError as exc:
            raise ValueError(f"{prefix}{exc}") from exc
        if mask.ndim < 2:
            raise ValueError(f"{prefix}mask {j} must be 2-D or more, got shape {mask.shape}")
        if out and mask.shape != out[0].shape:
            raise ValueError(
                f"{prefix}all masks of an image must have the same shape, "
                f"got {out[0].shape} and {mask.shape}"
            )
        if found is not None:
            if spacing is not None and not np.allclose(found, spacing, rtol=1e-5, atol=0):
                raise ValueError(
                    f"{prefix}the masks' files store different voxel sizes: "
                    f"{spacing} ({Path(spacing_from).name}) and {found} ({Path(item).name})"
                )
            spacing, spacing_from = found, item
        out.append(mask)
    if not out:
        return np.zeros((0, 0, 0), dtype=np.uint8 if labels else bool), None
    return np.stack(out), spacing


def check_mask_stack(masks, *, image_index=None, min_masks=2):
    """Validate the masks of one image and stack them as booleans.

    Parameters
    ----------
    masks : array-like of shape (k, H, W) or (k, D, H, W)..., or sequence of arrays or paths
        The ``k`` masks of one image: an array of 2-D masks, of 3-D volumes
        (any dimension >= 2), or a list whose items are arrays (bool, 0/1 or
        0/255) or mask file paths (read with :func:`read_mask`).
    image_index : int or str, default=None
        Position (or id) of the image, named in every error message.
    min_masks : int, default=2
        Fewest masks accepted.

    Returns
    -------
    stack : ndarray of bool, shape (k, H, W) or (k, D, H, W)...

    Raises
    ------
    ValueError
        If there are fewer than ``min_masks`` masks, a mask has fewer than 2
        dimensions, the masks differ in shape, a value is not binary, or a
        file cannot be read. The message names the image and the mask.

    See Also
    --------
    read_mask : read one mask file.

    Examples
    --------
    >>> import numpy as np
    >>> from skiaa._masks import check_mask_stack
    >>> check_mask_stack([np.eye(2, dtype=int), np.ones((2, 2), dtype=int)]).shape
    (2, 2, 2)
    >>> check_mask_stack(np.zeros((3, 4, 5, 6), bool)).shape  # three 3-D volumes
    (3, 4, 5, 6)
    >>> check_mask_stack([np.eye(2), np.ones((3, 3))], image_index=7)
    Traceback (most recent call last):
        ...
    ValueError: image 7: all masks of an image must have the same shape, got (2, 2) and (3, 3)
    """
    return load_mask_stack(masks, image_index=image_index, min_masks=min_masks)[0]
