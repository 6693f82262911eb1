"""Surface elements of a mask weighted by their area: DeepMind's surface-distance definition.

Nikolov et al. (2021) measure a surface by *surfels*: the marching-squares
(marching-cubes in 3-D) pieces of the boundary between pixel centres, one per
2 x 2 (2 x 2 x 2) neighbourhood that is neither empty nor full, each weighted
by its length (area). Their ``compute_robust_hausdorff`` takes the directed
percentiles of the distances between surfels weighted by those areas, without
interpolation, and their surface Dice sums areas instead of counting pixels.

The surfels of a mask depend on the mask alone (their positions are the
vertices of the pixel grid), so they are found once per mask, like the
border pixels of :class:`~skiaa.agreement._metrics.MaskStats`, and the
distances between two masks' surfels come from a k-d tree: the same numbers
as the package's distance transform of the pair's common crop.
"""

import numpy as np

__all__ = ["argwhere", "bounding_box", "class_surface_elements", "surface_elements"]

# The surfel normals of the 256 codes of a 2 x 2 x 2 neighbourhood (up to four
# triangles each; a normal's length is its triangle's area in voxel units), from
# the marching-cubes table of DeepMind's surface-distance
# (surface_distance/lookup_tables.py, Copyright 2018 Google Inc., Apache License
# 2.0), also shipped by MONAI. Every component is a multiple of 1/8: stored as
# one letter per component, "a" = -4/8 ... "e" = 0 ... "i" = 4/8, code-major,
# four normals of three components per code (missing triangles are zero).
_NORMALS_3D = (
    "eeeeeeeeeeeefffeeeeeeeeeddfeeeeeeeeecceggeeeeeeefdfeeeeeeeeececgegeeeeeefdfddfeeeeee"
    "ieegggfffeeedffeeeeeeeeefffdffeeeeeecegcegeeeeeeieeccgddfeeegcegceeeeeeeieegcgdfdeee"
    "aeecggdffeeeieeieeeeeeeefddeeeeeeeeeecceggeeeeeeddffddeeeeeeeaegggfffeeefdffddeeeeee"
    "eeagggdddeeeddffdffddeeedddcccgggfffdfffddeeeeeeecceggdffeeecegcegfddeeefffhhhecgceg"
    "fddgcegceeeehhhegcdddcgeaeedddcccfffaeedddccceeefdfeeeeeeeeeffffdfeeeeeeecgegceeeeee"
    "eaeffdggceeefdffdfeeeeeefdfcecgegeeeecgegcfdfeeebbheggffdcecdfffdfeeeeeeffffdfdffeee"
    "eeiccgddfeeeggcggcffdddffdfgcegceeeeieegcgdfdfdfegchbbdffggeaeeccgddfeeegcecgeeeeeee"
    "eiecggfddeeeeiefdfcgceeeeieeaeeeeeeegcecgefdfeeebbbcegdddcgefffeaecccdddeaecccdddeee"
    "dffgcecgeeeeeieggcddfddfbhbccedfdcegeieggcddfeeegcecgegcegceccecceddfeeefffccecceeee"
    "ccecceeeeeeeddfeeeeeeeeefffddfeeeeeeddfddfeeeeeeddfcceggeeeeecgecgeeeeeeeeigcgfdfeee"
    "ecgecgddfeeehbheccdfdggeddfdffeeeeeefffddfdffeeeddfcegcegeeeieeccgddfddfeiecgcfdfeee"
    "cgccgcdfddfdcechbbegcdffieecgcfdfeeeceggeceeeeeeeeicggdffeeeddfceggeceeececbhhccedff"
    "eeaggcddfeeeeeieeieeeeeeffffffgggeeifffgggeeieeeceggecdffeeeeeigcgfdffdfcegcegceggec"
    "fdfgeggegeeegegbbhcgeddfeeigcgfdfeeefffgeggegeeegeggegeeeeeeddffdfeeeeeefffddffdfeee"
    "ddfecgegceeeeaeffdggcddfecgecgfdfeeeeeigcgfdffdfecgecgecgegceggeggfddeeedfffdfddfeee"
    "dfffdfddffffeeiccgddfddfffffdffddeeeeiecgcfdffdffffddffddeeeecceggfffeeeffffddeeeeee"
    "ieegccfddeeecggdffcggfddhbheggdfdcegeaecggdffeeebbhgceeggddfdffcggeeieeefffeggeggeee"
    "eggeggeeeeeeieegggfffffffdfddffffeeececgegfffeeeffffdfeeeeeecceggefffeeefffddfeeeeee"
    "ffffffeeeeeefffeeeeeeeeefffeeeeeeeeeffffffeeeeeefffddfeeeeeecceggefffeeeffffdfeeeeee"
    "cecgegfffeeefdfddffffeeeieegggffffffeggeggeeeeeefffeggeggeeedffcggeeieeebbhgceeggddf"
    "eaecggdffeeehbheggdfdcegcggdffcggfddieegccfddeeeffffddeeeeeeecceggfffeeefffddffddeee"
    "eiecgcfdffdfffffdffddeeeeeiccgddfddfdfffdfddffffdfffdfddfeeeeggeggfddeeeecceggeggegg"
    "eeigcgfdffdfecgecgfdfeeeeaeffdggcddfddfecgegceeefffddffdfeeeddffdfeeeeeegeggegeeeeee"
    "fffgeggegeeeeeigcgfdfeeegegbbhcgeddffdfgeggegeeececgeggeggegeeigcgfdffdfceggecdffeee"
    "fffgggeeieeeffffffgggeeieeieeieeeeeeeeaggcddfeeececbhhccedffddfceggeceeeeeicggdffeee"
    "ceggeceeeeeeieecgcfdfeeecechbbegcdffcgccgcdfddfdeiecgcfdfeeeieeccgddfddfddfcegcegeee"
    "fffddfdffeeeddfdffeeeeeehbheccdfdggeecgecgddfeeeeeigcgfdfeeeecgecgeeeeeeddfcceggeeee"
    "ddfddfeeeeeefffddfeeeeeeddfeeeeeeeeeccecceeeeeeefffccecceeeeccecceddfeeeccecceccegge"
    "eieggcddfeeebhbccedfdcegeieggcddfddfdffgcecgeeeeeaecccdddeeefffeaecccdddbbbcegdddcge"
    "gcecgefdfeeeeieeaeeeeeeeeiefdfcgceeeeiecggfddeeegcecgeeeeeeeaeeccgddfeeeegchbbdffgge"
    "ieegcgdfdfdffdfgcegceeeeggcggcffdddfeeiccgddfeeeffffdfdffeeedfffdfeeeeeebbheggffdcec"
    "ecgegcfdfeeefdfcecgegeeefdffdfeeeeeeeaeffdggceeeecgegceeeeeeffffdfeeeeeefdfeeeeeeeee"
    "aeedddccceeeaeedddcccfffhhhegcdddcgefddgcegceeeefffhhhecgcegcegcegfddeeeecceggdffeee"
    "dfffddeeeeeedddcccgggfffddffdffddeeeeeagggdddeeefdffddeeeeeeeaegggfffeeeddffddeeeeee"
    "ecceggeeeeeefddeeeeeeeeeieeieeeeeeeeaeecggdffeeeieegcgdfdeeegcegceeeeeeeieeccgddfeee"
    "cegcegeeeeeefffdffeeeeeedffeeeeeeeeeieegggfffeeefdfddfeeeeeececgegeeeeeefdfeeeeeeeee"
    "cceggeeeeeeeddfeeeeeeeeefffeeeeeeeeeeeeeeeeeeeee"
)


def _normals_3d():
    codes = np.frombuffer("".join(_NORMALS_3D).encode("ascii"), dtype=np.uint8)
    return (codes.astype(np.float64) - ord("e")).reshape(256, 4, 3) / 8.0


def _areas_3d(spacing):
    """Area of the surfels of each of the 256 codes for voxels of size ``spacing``."""
    s0, s1, s2 = spacing
    scaled = _normals_3d() * np.array([s1 * s2, s0 * s2, s0 * s1])
    return np.sqrt((scaled**2).sum(axis=2)).sum(axis=1)


def _lengths_2d(spacing):
    """Contour length of each of the 16 codes of a 2 x 2 neighbourhood (marching squares).

    Bits 8, 4, 2, 1 are the top-left, top-right, bottom-left and bottom-right
    pixels; a corner alone (or its complement) cuts a half diagonal, an edge
    pair one side, the two saddles two half diagonals.
    """
    vertical, horizontal = spacing
    diag = 0.5 * np.hypot(vertical, horizontal)
    out = np.zeros(16)
    for code in (0b0001, 0b0010, 0b0100, 0b0111, 0b1000, 0b1011, 0b1101, 0b1110):
        out[code] = diag
    out[0b0011] = out[0b1100] = horizontal
    out[0b0101] = out[0b1010] = vertical
    out[0b0110] = out[0b1001] = 2 * diag
    return out


def argwhere(mask, start):
    """``np.argwhere(mask) + start``: the same indices in the same (row-major) order.

    Through ``np.flatnonzero`` and ``np.unravel_index``, about ten times faster
    than ``np.argwhere`` on a mask of a few hundred thousand pixels (measured).
    """
    found = np.stack(np.unravel_index(np.flatnonzero(mask), mask.shape), axis=1)
    return found + np.asarray(start, dtype=np.intp)


def bounding_box(mask):
    """The smallest box holding every True pixel: ``(lo, hi)`` lists per axis, None if none."""
    lo, hi = [], []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        hits = np.flatnonzero(mask.any(axis=other) if other else mask)
        if hits.size == 0:
            return None
        lo.append(int(hits[0]))
        hi.append(int(hits[-1]) + 1)
    return lo, hi


def _check_ndim(ndim):
    if ndim not in (2, 3):
        raise ValueError(
            "area-weighted surfaces (DeepMind's surface elements) are defined for 2-D and "
            f"3-D masks, got {ndim}-D"
        )


def surface_elements(mask, spacing=None):
    """Vertex indices (n, ndim) and areas (n,) of the surfels of a 2-D or 3-D boolean mask.

    A surfel sits at each vertex of the pixel grid (between pixel centres:
    vertex ``i`` lies between pixels ``i - 1`` and ``i`` along each axis) whose
    2 x 2 (x 2) neighbourhood holds both foreground and background, pixels
    outside the image counting as background; areas are in ``spacing``
    units. An empty mask has no surfel.
    """
    _check_ndim(mask.ndim)
    box = bounding_box(mask)
    if box is None:
        return _no_surfels(1, mask.ndim)[0]
    lo, hi = box
    crop = np.pad(mask[tuple(slice(a, b) for a, b in zip(lo, hi))], 1)
    # The mask as a map of one class (position 0), every other pixel of no class (1).
    return _crop_surfels(np.logical_not(crop).view(np.uint8), lo, 1, spacing)[0]


def class_surface_elements(index, n, spacing=None):
    """The surfels of every class of a class-index map, in one pass: a list of n pairs.

    ``index`` holds each pixel's class position, ``n`` for no class; pair
    ``c`` is :func:`surface_elements` of the mask ``index == c``.
    """
    _check_ndim(index.ndim)
    box = bounding_box(index < n)
    if box is None:
        return _no_surfels(n, index.ndim)
    lo, hi = box
    crop = np.pad(index[tuple(slice(a, b) for a, b in zip(lo, hi))], 1, constant_values=n)
    return _crop_surfels(crop, lo, n, spacing)


def _no_surfels(n, ndim):
    return [(np.empty((0, ndim), dtype=np.intp), np.empty(0)) for _ in range(n)]


def _crop_surfels(crop, lo, n, spacing):
    """Surfels of classes ``0 .. n-1`` of a class-index crop padded by one pixel of no class.

    Vertex i of the crop lies between padded pixels i and i + 1, i.e. between
    image pixels ``lo + i - 1`` and ``lo + i``. Only a vertex whose
    neighbourhood mixes values can be a surfel of any class, so the crop is
    compared with its shifted copies once, and each class's neighbourhood
    codes are formed at those few vertices only.
    """
    ndim = crop.ndim
    spacing = np.ones(ndim) if spacing is None else np.asarray(spacing, dtype=np.float64)
    shape = tuple(size - 1 for size in crop.shape)
    # The corners of each vertex's neighbourhood, (0, 0[, 0]) first: the largest bit.
    offsets = list(np.ndindex(*(2,) * ndim))
    corners = [
        crop[tuple(slice(o, o + size) for o, size in zip(offset, shape))] for offset in offsets
    ]
    mixed = corners[1] != corners[0]
    for corner in corners[2:]:
        mixed |= corner != corners[0]
    # Each mixed vertex's corners, gathered through the crop's flat index of its first.
    strides = np.asarray(crop.strides, dtype=np.intp) // crop.itemsize
    positions = argwhere(mixed, 0)
    starts = positions @ strides
    cells = crop.reshape(-1)
    values = [cells[starts + int(np.dot(offset, strides))] for offset in offsets]
    vertices = positions + np.asarray(lo, dtype=np.intp)
    table = _lengths_2d(spacing) if ndim == 2 else _areas_3d(spacing)
    out = []
    for c in range(n):
        # A mixed neighbourhood is never full: every code that is not 0 is a surfel.
        code = np.zeros(len(vertices), dtype=np.uint8)
        for bit, value in enumerate(values):
            code |= (value == c).view(np.uint8) << np.uint8(len(values) - 1 - bit)
        surfels = code != 0
        out.append((vertices[surfels], table[code[surfels]]))
    return out
