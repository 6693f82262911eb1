"""Reading and validating binary segmentation masks (shared by agreement, consensus, CLI).

Masks reach skiaa as boolean arrays of any dimension (2-D images, 3-D volumes),
as 0/1 or 0/255 integer (or float) arrays, or as files: images (PNG, read for
what they show by ``skiaa.utils.open_image``), NumPy arrays (``.npy``) or NIfTI
volumes (``.nii``, ``.nii.gz``, read with nibabel, the ``skiaa[nifti]`` extra;
their affines bring them to one orientation and grid, whose voxel size
becomes the metrics' spacing).
Everything is converted to boolean here, once, with a
``ValueError`` that names the offending image or file, so that the metric code
below never has to guess what a value of 128 means.
"""

from pathlib import Path

import numpy as np

from .utils import is_path, open_image

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


def _as_array(mask, prefix, kind):
    """``mask`` as an array of at least one dimension; ValueError naming ``kind`` otherwise."""
    try:
        arr = np.asarray(mask)
    except ValueError as exc:
        # numpy's "inhomogeneous shape" for nested lists of unequal lengths.
        raise ValueError(
            f"{prefix}{kind} must be a rectangular array (rows of equal length), got "
            f"nested sequences of unequal lengths ({exc})"
        ) from None
    if arr.ndim == 0:
        raise ValueError(f"{prefix}{kind} must be an array, got a scalar")
    return arr


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
    arr = _as_array(mask, prefix, "a mask")
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


#: Lengths of a last axis read as colour channels rather than as a spatial axis.
CHANNEL_LENGTHS = (1, 3, 4)


def drop_channels(mask, what, spatial_ndim=None, labels=False):
    """A mask array without its trailing channel axis, whose channels must agree.

    An array of 3 or more dimensions whose last axis has 1, 3 or 4 entries is
    a grey, RGB or RGBA picture of a mask (``(H, W, 3)``, or ``(k, H, W, 1)``
    as a stack), not a volume 1, 3 or 4 voxels wide: taking it as one would
    compute 3-D surfaces where the masks are 2-D. Its channels must be equal
    (a grey mask saved as colour), as for image files; otherwise it is
    refused, naming the mask. The caller says that the last axis is spatial
    (a volume that thin) with ``spatial_ndim``, the number of spatial axes:
    the metrics take it from a spacing with one value per axis. A label map
    (``labels``) holds classes, not colours: only a last axis of 1 is dropped.
    """
    try:
        arr = mask if isinstance(mask, np.ndarray) else np.asarray(mask)
    except ValueError:  # ragged nested lists: as_binary_mask names them
        return mask
    lengths = (1,) if labels else CHANNEL_LENGTHS
    if arr.ndim < 3 or arr.shape[-1] not in lengths or arr.dtype == object:
        return mask
    if spatial_ndim is not None and arr.ndim <= spatial_ndim:
        return mask
    first = arr[..., 0]
    if all(np.array_equal(first, arr[..., c]) for c in range(1, arr.shape[-1])):
        return first
    raise ValueError(
        f"{what}: shape {arr.shape} ends in an axis of {arr.shape[-1]}, read as colour "
        "channels, and its channels differ; pass one channel (mask[..., 0]) or, if that "
        "axis is spatial (a volume that thin), give a spacing with one value per axis, "
        "e.g. spacing=(1, 1, 1), or move the axis first (np.moveaxis(mask, -1, 0))"
    )


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
    arr = _as_array(mask, prefix, "a label map")
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


def _nibabel(path):
    try:
        import nibabel
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError(
            f"reading NIfTI masks ({Path(path).name}) needs nibabel: pip install 'skiaa[nifti]'"
        ) from exc
    return nibabel


def _read_nifti(path):
    """The stored array of a NIfTI file and its voxel-to-world affine (None if degenerate)."""
    nibabel = _nibabel(path)
    try:
        img = nibabel.load(path)
        # The stored array (no scaling by scl_slope: a mask is its stored labels).
        arr = np.asarray(img.dataobj.get_unscaled())
        affine = np.asarray(img.affine, dtype=np.float64)
    except Exception as exc:  # nibabel raises its own error types for broken files
        raise ValueError(f"cannot read mask file {path}: {exc}") from exc
    if arr.ndim == 4 and arr.shape[3] == 1:  # a single-frame 4-D volume
        arr = arr[..., 0]
    # A zero or non-finite voxel axis leaves no orientation to read.
    usable = np.isfinite(affine).all() and abs(np.linalg.det(affine[:3, :3])) > 0
    return arr, affine if usable else None


def _spacing(affine, ndim):
    """Voxel size along the array's first ``ndim`` axes: the affine's column lengths."""
    if affine is None:
        return None
    return tuple(float(z) for z in np.sqrt((affine[:3, :3] ** 2).sum(axis=0))[:ndim])


def _reorient(mask, affine, reference):
    """``mask`` and its affine with its axes flipped and permuted to ``reference``'s order.

    Two raters' files of one scan may store the voxels in different axis
    orders or directions, each with an affine that says so; nibabel's
    orientation tools (``io_orientation``, ``apply_orientation``, as in
    ``as_closest_canonical``) move the array to the reference's closest
    orientation without resampling. Whether both then cover the same grid is
    for the caller to check on the returned affine.
    """
    from nibabel import orientations

    flat = mask.ndim == 2  # a 2-D NIfTI: its affine still has three axes
    arr = mask[:, :, None] if flat else mask
    transform = orientations.ornt_transform(
        orientations.io_orientation(affine), orientations.io_orientation(reference)
    )
    moved = orientations.apply_orientation(arr, transform)
    moved_affine = affine @ orientations.inv_ornt_aff(transform, arr.shape)
    if flat and moved.shape[2] == 1:
        moved = moved[:, :, 0]
    return np.ascontiguousarray(moved), moved_affine


def _rounded(values):
    return tuple(round(float(v), 4) for v in values)


def _grid_difference(shape, affine, ref_shape, ref_affine):
    """How two voxel grids differ, in words, or None when they are one grid.

    Voxel sizes agree to a relative 1e-4, axis directions to 1e-4 (cosines),
    and origins to a hundredth of the smallest voxel: closer than any
    rounding of a header, far below anything that moves a mask by a voxel.
    """
    if shape != ref_shape:
        return f"shape {ref_shape} and {shape} (after reorientation)"
    ndim = len(shape)
    zooms = np.array(_spacing(affine, 3))
    ref_zooms = np.array(_spacing(ref_affine, 3))
    found = []
    if not np.allclose(zooms[:ndim], ref_zooms[:ndim], rtol=1e-4, atol=0):
        found.append(f"voxel size {_rounded(ref_zooms[:ndim])} and {_rounded(zooms[:ndim])}")
    directions = affine[:3, :3] / zooms
    ref_directions = ref_affine[:3, :3] / ref_zooms
    turn = float(np.abs(directions - ref_directions).max())
    if turn > 1e-4:
        found.append(f"axis directions (cosines differ by up to {turn:.4g})")
    gap = float(np.linalg.norm(affine[:3, 3] - ref_affine[:3, 3]))
    if gap > 0.01 * min(ref_zooms[:ndim].min(), zooms[:ndim].min()):
        found.append(
            f"origin {_rounded(ref_affine[:3, 3])} and {_rounded(affine[:3, 3])} ({gap:.4g} apart)"
        )
    return "; ".join(found) or None


def _read_image(path, labels=False):
    # What the file shows (palette images through their palette, 16-bit and
    # float grey with their own full scale), not Pillow's raw storage; a label
    # map's palette only colours its classes: its indices are the labels.
    arr, full_scale = open_image(path, kind="mask", palette_indices=labels)
    if arr.ndim == 3:
        if arr.shape[2] in (2, 4):  # grey + alpha (LA) or RGBA
            # Alpha must be fully opaque everywhere: a uniform 50% alpha is as
            # ambiguous as a varying one (is the mask in the colour or in the alpha?).
            alpha = arr[..., -1]
            if np.any(alpha != full_scale):
                found = np.unique(alpha)
                shown = ", ".join(str(v) for v in found[:4]) + (", ..." if found.size > 4 else "")
                raise ValueError(
                    f"{path}: mask with an alpha channel that is not fully opaque "
                    f"(alpha values {{{shown}}}, expected {full_scale} everywhere); save the "
                    "mask as a grey image, or with alpha opaque"
                )
            arr = arr[..., :-1]
        if arr.shape[2] > 1 and not all(
            np.array_equal(arr[..., 0], arr[..., c]) for c in range(1, arr.shape[2])
        ):
            raise ValueError(f"{path}: colour mask whose channels differ; expected a grey mask")
        arr = arr[..., 0]
    if not labels and full_scale not in (1, 255) and not np.any((arr != 0) & (arr != full_scale)):
        # A 16-bit mask of 0 and 65535: full intensity is the lesion.
        arr = arr != 0
    return arr


def _read_mask_file(path, labels=False, spatial_ndim=None):
    """A mask file as bool (a label map with ``labels``) and its NIfTI affine (None for PNG,
    .npy and degenerate headers)."""
    path = Path(path)
    kind = _suffix(path)
    affine = None
    if kind == ".npy":
        arr = drop_channels(_read_npy(path), path, spatial_ndim, labels)
    elif kind in (".nii", ".nii.gz"):
        if not path.is_file():
            raise ValueError(f"cannot read mask file {path}: no such file")
        arr, affine = _read_nifti(path)
    else:
        arr = _read_image(path, labels)
    if arr.ndim < 2:
        raise ValueError(f"{path}: a mask must be 2-D or more, got shape {arr.shape}")
    convert = as_label_map if labels else as_binary_mask
    return convert(arr, what=path), affine


def read_mask_and_spacing(path, *, labels=False):
    """Read a binary mask file and the voxel size it stores (NIfTI), or None.

    See :func:`read_mask`; the spacing is the NIfTI file's voxel size (the
    lengths of its affine's axes, one number per axis of the mask, in the
    array's axis order), None for PNG and ``.npy`` files. With
    ``labels=True`` the file is a label map, checked by :func:`as_label_map`.
    """
    mask, affine = _read_mask_file(path, labels=labels)
    return mask, _spacing(affine, min(mask.ndim, 3))


def read_mask(path):
    """Read a binary mask from a file.

    Parameters
    ----------
    path : str or path-like
        An image file readable by Pillow (PNG in IMA++), a NumPy ``.npy``
        array (any dimension >= 2, read without pickle) or a NIfTI volume
        (``.nii``, ``.nii.gz``; needs nibabel, the ``skiaa[nifti]`` extra).
        Images are read for what they show: palette images through their
        palette (an inverted palette gives the same mask), 16-bit grey with
        values 0 and 65535 as binary, like 0/1 and 0/255. RGB(A) and
        grey-with-alpha images are accepted when their colour channels are
        equal (a grey mask saved as colour) and their alpha channel, if any,
        is fully opaque (255 everywhere for 8-bit images).

    Returns
    -------
    mask : ndarray of bool, shape (H, W) or (D, H, W)...

    Raises
    ------
    ValueError
        If the file is missing or unreadable, is an image of a mode skiaa does
        not understand or over Pillow's decompression-bomb limit, is a colour
        image whose channels differ, has an alpha channel that is not fully
        opaque, or holds values other than 0/1 or 0/255 (0/65535 in 16-bit
        images). The message names the file.

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


def load_mask_stack(masks, *, image_index=None, min_masks=2, labels=False, spatial_ndim=None):
    """Validate the masks of one image, stack them, and give the spacing their files store.

    The engine behind :func:`check_mask_stack`. Returns ``(stack, spacing)``:
    ``spacing`` is the voxel size of the grid the NIfTI files among ``masks``
    share once brought to the first one's orientation (in its axis order), or
    None when no mask carries one. With ``labels=True`` the masks are label
    maps (:func:`as_label_map`) and the stack is an integer array.
    ``spatial_ndim`` as in :func:`check_mask_stack`.
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
    # The first NIfTI mask's geometry: the others are brought to its orientation
    # and must then lie on its grid, so that voxel j of every mask is one point.
    reference = None
    for j, item in enumerate(items):
        try:
            if is_path(item):
                mask, affine = _read_mask_file(item, labels=labels, spatial_ndim=spatial_ndim)
            elif labels:
                what = f"mask {j}"
                mask, affine = (
                    as_label_map(drop_channels(item, what, spatial_ndim, True), what=what),
                    None,
                )
            else:
                what = f"mask {j}"
                item = drop_channels(item, what, spatial_ndim)
                mask, affine = as_binary_mask(item, what=what), None
        except ValueError as exc:
            raise ValueError(f"{prefix}{exc}") from exc
        if mask.ndim < 2:
            raise ValueError(f"{prefix}mask {j} must be 2-D or more, got shape {mask.shape}")
        if affine is not None:
            if reference is None:
                reference = (item, mask.shape, affine)
            else:
                mask, affine = _reorient(mask, affine, reference[2])
                differs = _grid_difference(mask.shape, affine, reference[1], reference[2])
                if differs is not None:
                    raise ValueError(
                        f"{prefix}the masks' files do not lie on one voxel grid, so their "
                        f"voxels cannot be compared: {reference[0]} and {item} differ in "
                        f"{differs}; resample one onto the other's grid first"
                    )
        if out and mask.shape != out[0].shape:
            raise ValueError(
                f"{prefix}all masks of an image must have the same shape, "
                f"got {out[0].shape} and {mask.shape}"
            )
        out.append(mask)
    spacing = None if reference is None else _spacing(reference[2], min(out[0].ndim, 3))
    if not out:
        return np.zeros((0, 0, 0), dtype=np.uint8 if labels else bool), None
    return np.stack(out), spacing


def check_mask_stack(masks, *, image_index=None, min_masks=2, spatial_ndim=None):
    """Validate the masks of one image and stack them as booleans.

    Parameters
    ----------
    masks : array-like of shape (k, H, W) or (k, D, H, W)..., or sequence of arrays or paths
        The ``k`` masks of one image: an array of 2-D masks, of 3-D volumes
        (any dimension >= 2), or a list whose items are arrays (bool, 0/1 or
        0/255) or mask file paths (read with :func:`read_mask`). NIfTI files
        are compared in world space: each is brought (flipped, axes permuted,
        never resampled) to the orientation of the first NIfTI file among
        ``masks``, on whose voxel grid it must then lie.
    image_index : int or str, default=None
        Position (or id) of the image, named in every error message.
    min_masks : int, default=2
        Fewest masks accepted.
    spatial_ndim : int, default=None
        Number of spatial axes of each mask. A mask array of 3 or more
        dimensions whose last axis has 1, 3 or 4 entries (``(H, W, 3)``, or
        ``(k, H, W, 1)`` as a stack) is read as a picture with colour
        channels, which must be equal, and reduced to one of them, unless it
        has no more than ``spatial_ndim`` dimensions: then that axis is spatial
        (a volume 1, 3 or 4 voxels thin). None: every such axis is channels.
        Label maps hold classes, not colours: only a last axis of 1 is
        dropped from them.

    Returns
    -------
    stack : ndarray of bool, shape (k, H, W) or (k, D, H, W)...

    Raises
    ------
    ValueError
        If there are fewer than ``min_masks`` masks, a mask has fewer than 2
        dimensions, a trailing channel axis has channels that differ, the
        masks differ in shape, a value is not binary, a file
        cannot be read, or two NIfTI files do not lie on one voxel grid after
        reorientation (another shape, voxel size, axis direction or origin:
        the message names both files and how they differ). The message names
        the image and the mask.

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
    return load_mask_stack(
        masks, image_index=image_index, min_masks=min_masks, spatial_ndim=spatial_ndim
    )[0]
