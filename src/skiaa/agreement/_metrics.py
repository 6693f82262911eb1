"""Agreement between two binary masks of any dimension: overlaps, boundary distances.

The per-mask quantities (bit-packed voxels, border points and their k-d tree)
are computed once by :class:`MaskStats` and reused by every pair a mask is in;
:func:`pair_values` gives the metrics of one pair from them. The definitions
and conventions are documented in :mod:`skiaa.agreement`.
"""

import math
import warnings

import numpy as np
from scipy.spatial import cKDTree

from .._docstring import Substitution
from .._masks import as_binary_mask, as_label_map
from ._naming import DISTANCE_METRICS, OVERLAP_METRICS, TOLERANCE_METRICS
from ._surfels import argwhere, bounding_box, class_surface_elements, surface_elements

__all__ = [
    "EmptyMaskWarning",
    "dice",
    "jaccard",
    "hausdorff",
    "hd95",
    "assd",
    "surface_dice",
    "boundary_f1",
    "generalized_dice",
]


class EmptyMaskWarning(UserWarning):
    """A boundary distance was asked for a pair where exactly one mask is empty.

    The distance is undefined there and returned as NaN.
    """


# --------------------------------------------------------------------------- #
# Population count on bit-packed masks
# --------------------------------------------------------------------------- #
_POPCOUNT_TABLE = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _popcount_lut(packed):
    """Set bits of a packed array through a byte lookup table (numpy < 2 fallback)."""
    return int(_POPCOUNT_TABLE[packed.view(np.uint8)].sum())


def _popcount_native(packed):
    """Set bits of a packed array with numpy's SIMD population count (numpy >= 2)."""
    return int(np.bitwise_count(packed).sum(dtype=np.int64))


_popcount = _popcount_native if hasattr(np, "bitwise_count") else _popcount_lut


def _words(packed):
    """View packed bytes as 64-bit words (zero-padded to a multiple of 8 bytes).

    Padding bits are 0 in every mask, so they never count in an intersection.
    """
    flat = packed.reshape(-1)
    pad = (-flat.size) % 8
    if pad:
        flat = np.concatenate([flat, np.zeros(pad, dtype=np.uint8)])
    return flat.view(np.uint64)


def _pack(mask):
    """Bit-pack a boolean mask into 64-bit words, 8x less memory to scan."""
    return _words(np.packbits(mask.reshape(-1)))


# --------------------------------------------------------------------------- #
# Borders and directed distances
# --------------------------------------------------------------------------- #
def _border_points_2d(packed):
    """Coordinates (n, 2) of medpy's border pixels from a row-packed 2-D mask.

    ``packed`` is ``np.packbits(mask, axis=1)``: each row's pixels as bits (the
    first pixel in the most significant bit, zero padding at the end of the row).
    The 4-neighbour erosion is done with whole-byte shifts and ANDs on it, 8x
    less memory to stream than the boolean image, and only the bytes that hold
    a border pixel are unpacked. Outside-the-image neighbours are 0, as in
    scipy's ``binary_erosion`` (``border_value=0``) that medpy uses.
    """
    # Crop to the bytes that hold foreground: outside them every neighbour is 0,
    # exactly what the zero rows/bytes assumed at the crop's edges give.
    rows = np.flatnonzero(packed.any(axis=1))
    if rows.size == 0:
        return np.empty((0, 2), dtype=np.intp)
    cols = np.flatnonzero(packed[rows[0] : rows[-1] + 1].any(axis=0))
    r0, c0 = rows[0], cols[0]
    crop = np.ascontiguousarray(packed[r0 : rows[-1] + 1, c0 : cols[-1] + 1])
    # Left neighbour of each bit: shift right within the byte and carry in the
    # last bit (least significant) of the previous byte; right neighbour alike.
    eroded = crop >> 1
    eroded[:, 1:] |= crop[:, :-1] << 7
    right = crop << 1
    right[:, :-1] |= crop[:, 1:] >> 7
    eroded &= right
    eroded &= crop
    eroded[1:] &= crop[:-1]  # up neighbour
    eroded[0] = 0
    eroded[:-1] &= crop[1:]  # down neighbour
    eroded[-1] = 0
    np.bitwise_not(eroded, out=eroded)
    eroded &= crop  # now the border
    # Find the few non-zero bytes through 64-bit words, then unpack only those.
    words = _words(eroded)
    hits = np.flatnonzero(words)
    bits = np.unpackbits(words[hits].view(np.uint8).reshape(-1, 8), axis=1)
    which, bit = np.divmod(np.flatnonzero(bits), 64)  # np.nonzero of 2-D is slower
    byte = hits[which] * 8 + bit // 8
    n_bytes = crop.shape[1]
    rows_out = byte // n_bytes + r0
    cols_out = (byte % n_bytes + c0) * 8 + bit % 8
    # Row-major order, as np.argwhere gives (so sums run in medpy's order).
    return np.stack([rows_out, cols_out], axis=1).astype(np.intp, copy=False)


def _border_points(mask):
    """Coordinates (n, ndim) of medpy's border pixels of ``mask``.

    The border is ``mask ^ erosion(mask, cross)`` with outside-the-image pixels
    as background (scipy's ``border_value=0``). It depends on the mask alone, so
    it is found on the mask's bounding box padded by one background pixel: the
    same pixels as on the full image, at the cost of the lesion's area only.
    """
    ndim = mask.ndim
    box = bounding_box(mask)
    if box is None:
        return np.empty((0, ndim), dtype=np.intp)
    lo, hi = box
    crop = np.pad(mask[tuple(slice(a, b) for a, b in zip(lo, hi))], 1)
    inner = (slice(1, -1),) * ndim
    eroded = crop[inner].copy()
    for axis in range(ndim):
        for start, stop in ((0, -2), (2, None)):
            shifted = list(inner)
            shifted[axis] = slice(start, stop)
            eroded &= crop[tuple(shifted)]
    border = crop[inner] & ~eroded
    return argwhere(border, lo)


def _lengths(steps, spacing):
    """Lengths of integer steps (n, ndim) as scipy's distance transform computes them.

    ``sqrt(sum((step * spacing) ** 2))``, summed axis by axis in order (what
    ``np.add.reduce`` over the axes does, to the bit), in pixels when
    ``spacing`` is None.
    """
    total = np.zeros(len(steps))
    for axis in range(steps.shape[1]):
        term = steps[:, axis].astype(np.float64)
        if spacing is not None:
            term *= spacing[axis]
        term *= term
        total += term
    return np.sqrt(total)


#: The most nearby steps :meth:`_Surface.within` tries one by one before asking the tree.
_MAX_STEPS = 64
#: The largest box of candidate steps worth listing, and of grid cells worth allocating.
_MAX_BOX = 1 << 12
_MAX_GRID = 1 << 27


def _steps_within(tolerance, spacing, ndim):
    """Integer steps no longer than ``tolerance`` (see :func:`_lengths`), nearest first.

    None when their box would exceed ``_MAX_BOX`` steps.
    """
    scale = np.ones(ndim) if spacing is None else spacing
    # One step more than the quotient: the lengths below decide, not the division.
    reach = np.floor(tolerance / scale) + 1
    # In floats: a huge tolerance would overflow integers (the product is then inf).
    if np.prod(2 * reach + 1) > _MAX_BOX:
        return None
    reach = reach.astype(np.intp)
    steps = np.indices(tuple(2 * reach + 1)).reshape(ndim, -1).T - reach
    lengths = _lengths(steps, spacing)
    keep = lengths <= tolerance
    return steps[keep][np.argsort(lengths[keep], kind="stable")]


class _Surface:
    """A mask's border, its size and (lazily) a k-d tree over its border points."""

    def __init__(self, points, spacing):
        self.index = points
        self.spacing = spacing
        self.points = points.astype(np.float64)
        if spacing is not None:
            self.points *= spacing
        self._tree = None
        self._box = None

    @property
    def tree(self):
        if self._tree is None:
            # Sliding-midpoint tree without compaction, leaves of 32: faster to build
            # and query on contour-like point sets than the defaults (measured).
            self._tree = cKDTree(
                self.points, leafsize=32, balanced_tree=False, compact_nodes=False
            )
        return self._tree

    def distances_to(self, other, rows=slice(None)):
        """Directed distances from each of this border's pixels to ``other``'s border.

        With a spacing, each distance is recomputed from the integer steps to the
        nearest point as scipy's distance transform computes it (the one medpy,
        MONAI and surface-distance use), ``sqrt(sum((step * spacing) ** 2))``: the
        k-d tree's scaled coordinates can differ from it in the last bit, which
        decides ``distance <= tolerance`` when the two are equal. ``rows``
        selects the points to measure (all by default).
        """
        dist, nearest = other.tree.query(self.points[rows], k=1)
        if self.spacing is None:
            return dist  # integer steps: the tree's distances are already exact
        return _lengths(other.index[nearest] - self.index[rows], self.spacing)

    @property
    def box(self):
        """Smallest and largest index along each axis (the points are not empty)."""
        if self._box is None:
            columns = self.index.T
            self._box = (
                np.array([c.min() for c in columns]),
                np.array([c.max() for c in columns]),
            )
        return self._box

    def within(self, other, tolerance):
        """Whether each of this border's points lies within ``tolerance`` of ``other``'s.

        The test ``distances_to(other) <= tolerance`` (lengths as
        :func:`_lengths` computes them), made cheaper because tolerances are
        small: the steps no longer than it are tried nearest first on a grid
        of ``other``'s points, the settled points set aside as they
        accumulate, and only the points that none of the first ``_MAX_STEPS``
        steps settles are measured on the k-d tree.
        """
        steps = _steps_within(tolerance, self.spacing, self.index.shape[1])
        if steps is None:
            return self.distances_to(other) <= tolerance
        tried = steps[:_MAX_STEPS]
        reach = np.abs(tried).max(axis=0)
        lo = np.minimum(self.box[0], other.box[0]) - reach
        shape = tuple(np.maximum(self.box[1], other.box[1]) + reach + 1 - lo)
        if math.prod(shape) > _MAX_GRID:
            return self.distances_to(other) <= tolerance
        grid = np.zeros(shape, dtype=bool)
        grid[tuple((other.index - lo).T)] = True
        cells = grid.reshape(-1)
        strides = np.asarray(grid.strides, dtype=np.intp)  # bytes of a bool: elements
        todo = (self.index - lo) @ strides
        where = np.arange(len(todo))
        near = np.zeros(len(todo), dtype=bool)
        found = np.zeros(len(todo), dtype=bool)
        for step in tried @ strides:
            found |= cells[todo + step]
            if np.count_nonzero(found) * 4 > len(todo):  # worth setting them aside
                near[where[found]] = True
                missed = ~found
                todo, where = todo[missed], where[missed]
                if not where.size:
                    return near
                found = np.zeros(len(todo), dtype=bool)
        near[where[found]] = True
        if len(tried) < len(steps):
            rest = where[~found]
            near[rest] = self.distances_to(other, rest) <= tolerance
        return near


class _Surfels(_Surface):
    """A mask's surface elements (DeepMind's): vertex indices, areas and a lazy k-d tree."""

    def __init__(self, index, areas, spacing):
        super().__init__(index, spacing)
        self.areas = areas


def _surface_uses(bases, hd_percentile, surface):
    """What the metrics ``bases`` (names without "_normalized") need of two surfaces.

    A subset of "border distances", "border tolerance" (only whether each
    border pixel lies within the tolerance of the other border), "surfel
    distances" and "surfel tolerance" (the same on surface elements).
    """
    uses = set()
    if bases & {"hausdorff", "assd"} or ("hd95" in bases and hd_percentile != "area_weighted"):
        uses.add("border distances")
    if "boundary_f1" in bases or ("surface_dice" in bases and surface != "area_weighted"):
        uses.add("border tolerance")
    if "hd95" in bases and hd_percentile == "area_weighted":
        uses.add("surfel distances")
    if "surface_dice" in bases and surface == "area_weighted":
        uses.add("surfel tolerance")
    return uses


def needs_surfels(metrics, hd_percentile, surface="pixels"):
    """Whether ``metrics`` under these options use surface elements."""
    bases = {m.removesuffix("_normalized") for m in metrics}
    return bool(
        _surface_uses(bases, hd_percentile, surface) & {"surfel distances", "surfel tolerance"}
    )


def needs_borders(metrics, hd_percentile, surface="pixels"):
    """Whether ``metrics`` under these options use border pixels."""
    bases = {m.removesuffix("_normalized") for m in metrics}
    return bool(
        _surface_uses(bases, hd_percentile, surface) & {"border distances", "border tolerance"}
    )


def _weighted_percentile(distances, areas, q):
    """DeepMind's percentile: the first distance, in increasing order, at which the
    cumulative share of surface area reaches ``q`` percent (no interpolation)."""
    order = np.lexsort((areas, distances))
    share = np.cumsum(areas[order]) / np.sum(areas)
    idx = np.searchsorted(share, q / 100.0)
    return distances[order][min(idx, len(distances) - 1)]


def check_spacing(spacing, ndim):
    if spacing is None:
        return None
    arr = np.asarray(spacing, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(ndim, float(arr))
    if arr.shape != (ndim,) or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        # An array (the transformer keeps its spacing as one) is shown as its values.
        given = spacing.tolist() if isinstance(spacing, np.ndarray) else spacing
        raise ValueError(
            f"spacing must be one positive number or {ndim} positive numbers (one per axis), "
            f"got {given!r}"
        )
    return arr


def check_tolerance(tolerance):
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float, np.number)):
        raise ValueError(f"tolerance must be a non-negative number, got {tolerance!r}")
    if not math.isfinite(tolerance) or tolerance < 0:
        raise ValueError(f"tolerance must be a non-negative number, got {tolerance!r}")
    return float(tolerance)


def image_diagonal(shape, spacing):
    extent = np.asarray(shape, dtype=np.float64)
    if spacing is not None:
        extent = extent * spacing
    return float(np.sqrt(np.sum(extent**2)))


def check_pair(mask1, mask2):
    a = as_binary_mask(mask1, what="mask1")
    b = as_binary_mask(mask2, what="mask2")
    if a.shape != b.shape:
        raise ValueError(f"the two masks must have the same shape, got {a.shape} and {b.shape}")
    return a, b


# --------------------------------------------------------------------------- #
# Metrics on one pair, from precomputed per-mask quantities
# --------------------------------------------------------------------------- #
class MaskStats:
    """What every metric needs from one mask, computed once per mask.

    When borders are needed, a 2-D mask is bit-packed along rows once and the
    packed rows serve both the overlap counts and the border search. Otherwise
    the flat mask is packed (about twice as fast as packing row by row); n-D
    masks find their borders on the boolean array.
    """

    def __init__(self, mask, spacing, need_surface=False, need_surfels=False):
        if mask.ndim == 2 and need_surface:
            rows = np.packbits(mask, axis=1)
            self.packed = _words(rows)
            points = _border_points_2d(rows)
        else:
            self.packed = _pack(mask)
            points = _border_points(mask) if need_surface else None
        self.count = _popcount(self.packed)
        self.surface = _Surface(points, spacing) if need_surface else None
        self.surfels = (
            _Surfels(*surface_elements(mask, spacing), spacing) if need_surfels else None
        )


def _overlap(s1, s2, metric, inter=None):
    if inter is None:
        inter = _popcount(s1.packed & s2.packed)
    total = s1.count + s2.count
    if total == 0:
        return 1.0  # both empty: equal masks (see "Empty masks" in the module docstring)
    if metric == "jaccard":
        return inter / (total - inter)
    # Dice; and generalized Dice, which on a single class is Dice whatever its weight.
    return 2.0 * inter / total


HD_PERCENTILES = ("pooled", "max", "area_weighted")
SURFACES = ("pixels", "area_weighted")
EMPTY_RULES = ("nan", "worst")


def check_options(hd_percentile, empty):
    """Validate the ``hd_percentile`` and ``empty`` options; return them."""
    if hd_percentile not in HD_PERCENTILES:
        raise ValueError(
            f"hd_percentile must be 'pooled', 'max' or 'area_weighted', got {hd_percentile!r}"
        )
    if empty not in EMPTY_RULES:
        raise ValueError(f"empty must be 'nan' or 'worst', got {empty!r}")
    return hd_percentile, empty


def one_empty(s1, s2):
    """Whether exactly one of the two masks is empty (distances undefined)."""
    return (s1.count == 0) != (s2.count == 0)


def _both_ways(first, second, tolerance, distances):
    """Directed distances (None, None unless ``distances``) and within-tolerance flags.

    Returns ``(d12, d21, near12, near21)``; without distances the flags come
    from the cheaper :meth:`_Surface.within`.
    """
    if distances:
        d12, d21 = first.distances_to(second), second.distances_to(first)
        return d12, d21, d12 <= tolerance, d21 <= tolerance
    return None, None, first.within(second, tolerance), second.within(first, tolerance)


def pair_values(
    s1,
    s2,
    metrics,
    tolerance,
    diagonal,
    *,
    hd_percentile,
    empty,
    warn_where=None,
    inter=None,
    surface="pixels",
):
    """Values of ``metrics`` for one pair of masks, as a dict in order.

    ``hd_percentile``: "pooled" takes HD95 over both directed distance sets
    concatenated (medpy, the IMA++ release), "max" the larger of the two
    directed 95th percentiles. ``empty``: with exactly one mask empty, "nan"
    gives NaN distances, "worst" the image diagonal (1.0 normalised).
    ``warn_where`` (a message prefix) issues an :class:`EmptyMaskWarning`
    for NaN distances; None leaves warning to the caller. ``inter``: the
    overlap count when the caller has it (one class of two label maps).
    ``hd_percentile="area_weighted"`` and ``surface="area_weighted"`` (for
    ``surface_dice``) measure on the masks' surface elements, which the two
    :class:`MaskStats` must then hold (``need_surfels``).
    """
    out = {}
    for metric in metrics:
        if metric in OVERLAP_METRICS:
            out[metric] = _overlap(s1, s2, metric, inter)
    surface_metrics = [m for m in metrics if m not in OVERLAP_METRICS]
    if not surface_metrics:
        return out
    e1, e2 = s1.count == 0, s2.count == 0
    if e1 and e2:
        for metric in surface_metrics:
            out[metric] = 1.0 if metric in TOLERANCE_METRICS else 0.0
        return out
    if e1 or e2:
        wants_distance = any(
            m.removesuffix("_normalized") in DISTANCE_METRICS for m in surface_metrics
        )
        if wants_distance and empty == "nan" and warn_where is not None:
            warnings.warn(
                f"{warn_where}one mask is empty and the other is not: boundary distances "
                "are undefined and returned as NaN",
                EmptyMaskWarning,
                stacklevel=4,  # the caller of the public function
            )
        for metric in surface_metrics:
            if metric in TOLERANCE_METRICS:
                out[metric] = 0.0
            elif empty == "worst":
                # The farthest two points of the image can be: the release's worst case.
                out[metric] = 1.0 if metric.endswith("_normalized") else float(diagonal)
            else:
                out[metric] = math.nan
        return out
    bases = {m.removesuffix("_normalized") for m in surface_metrics}
    uses = _surface_uses(bases, hd_percentile, surface)
    if uses & {"border distances", "border tolerance"}:
        d12, d21, near12, near21 = _both_ways(
            s1.surface, s2.surface, tolerance, "border distances" in uses
        )
    if uses & {"surfel distances", "surfel tolerance"}:
        e12, e21, close12, close21 = _both_ways(
            s1.surfels, s2.surfels, tolerance, "surfel distances" in uses
        )
    raw = {}
    for metric in surface_metrics:
        base = metric.removesuffix("_normalized")
        if base not in raw:
            if base == "hd95" and hd_percentile == "area_weighted":
                raw[base] = float(
                    max(
                        _weighted_percentile(e12, s1.surfels.areas, 95),
                        _weighted_percentile(e21, s2.surfels.areas, 95),
                    )
                )
            elif base == "surface_dice" and surface == "area_weighted":
                a1, a2 = s1.surfels.areas, s2.surfels.areas
                hits = a1[close12].sum() + a2[close21].sum()
                raw[base] = float(hits / (a1.sum() + a2.sum()))
            elif base == "hausdorff":
                raw[base] = float(max(d12.max(), d21.max()))
            elif base == "hd95":
                if hd_percentile == "pooled":
                    raw[base] = float(np.percentile(np.concatenate([d12, d21]), 95))
                else:
                    raw[base] = float(max(np.percentile(d12, 95), np.percentile(d21, 95)))
            elif base == "assd":
                raw[base] = float(np.concatenate([d12, d21]).mean())
            elif base == "surface_dice":
                hits = np.count_nonzero(near12) + np.count_nonzero(near21)
                raw[base] = hits / (near12.size + near21.size)
            else:  # boundary_f1
                precision = np.count_nonzero(near12) / near12.size
                recall = np.count_nonzero(near21) / near21.size
                denom = precision + recall
                raw[base] = 0.0 if denom == 0 else 2.0 * precision * recall / denom
        value = raw[base]
        out[metric] = float(value / diagonal if metric.endswith("_normalized") else value)
    return out


# --------------------------------------------------------------------------- #
# Label maps: every class of a map from one pass
# --------------------------------------------------------------------------- #
def check_labels_option(labels):
    """Validate ``labels``: None (binary masks), ``"all"``, or distinct class values.

    Returns None, ``"all"`` or an int64 array of the values in the caller's order.
    """
    if labels is None or (isinstance(labels, str) and labels == "all"):
        return labels
    if isinstance(labels, (str, bytes)) or np.ndim(labels) > 1:
        raise ValueError(f"labels must be 'all' or a sequence of class values, got {labels!r}")
    values = np.atleast_1d(np.asarray(labels))
    if values.size == 0:
        raise ValueError("labels must name at least one class value")
    if (
        values.dtype == bool
        or values.dtype.kind not in "uif"
        or not np.all((values >= 0) & (values == np.round(values)))
    ):
        raise ValueError(
            f"labels must be non-negative whole numbers (class values), got {list(labels)!r}"
        )
    values = values.astype(np.int64)
    if np.unique(values).size != values.size:
        raise ValueError(f"labels must be distinct, got {values.tolist()}")
    return values


def resolve_labels(labels, maps, allow_empty=False):
    """The class values to measure: ``labels`` itself, or for ``"all"`` every non-zero
    value found in ``maps`` (sorted)."""
    if not (isinstance(labels, str) and labels == "all"):
        return labels
    seen = set()
    for m in maps:
        top = int(m.max()) if m.size else 0
        # A count per value is one pass; np.unique sorts the whole map.
        values = np.flatnonzero(np.bincount(m.reshape(-1))) if top < (1 << 20) else np.unique(m)
        seen.update(int(v) for v in values)
    seen.discard(0)
    if not seen and not allow_empty:
        raise ValueError(
            "labels='all' found no class: every mask is 0 everywhere; name the classes "
            "to measure (labels=[...]) to get their values for empty masks"
        )
    return np.array(sorted(seen), dtype=np.int64)


def _class_index(labelmap, labels):
    """Map each pixel to the position of its value in ``labels``; ``len(labels)`` if absent.

    A lookup table over the value range (one gather) when values are small,
    as they are in label maps; a sorted search otherwise.
    """
    n = len(labels)
    dtype = np.uint8 if n < 255 else (np.uint16 if n < 65535 else np.int64)
    top = int(labelmap.max()) if labelmap.size else 0
    if top < (1 << 20):
        lut = np.full(top + 1, n, dtype=dtype)
        inside = labels <= top
        lut[labels[inside]] = np.flatnonzero(inside).astype(dtype)
        return lut.take(labelmap)  # twice as fast as lut[labelmap] (measured)
    order = np.argsort(labels)
    pos = np.searchsorted(labels[order], labelmap).clip(0, n - 1)
    hit = labels[order][pos] == labelmap
    return np.where(hit, order[pos], n).astype(dtype)


def _class_border_points(index, n):
    """Border points of every class of a class-index map, in one pass: a list of n arrays.

    A pixel of class c is on c's border when a face neighbour has another
    class or lies outside the image: medpy's border (``mask ^ erosion(mask,
    cross)``, outside = background) of the binary mask ``index == c``, for
    every class at once. Points come in row-major order within each class.
    """
    ndim = index.ndim
    box = bounding_box(index < n)
    if box is None:
        return [np.empty((0, ndim), dtype=np.intp) for _ in range(n)]
    lo, hi = box
    # The value n (no class) pads the crop: outside the image counts as another class.
    crop = np.pad(index[tuple(slice(a, b) for a, b in zip(lo, hi))], 1, constant_values=n)
    inner_slices = (slice(1, -1),) * ndim
    inner = crop[inner_slices]
    edge = np.zeros(inner.shape, dtype=bool)
    for axis in range(ndim):
        for start, stop in ((0, -2), (2, None)):
            shifted = list(inner_slices)
            shifted[axis] = slice(start, stop)
            edge |= crop[tuple(shifted)] != inner
    edge &= inner < n
    positions = argwhere(edge, 0)
    classes = inner[tuple(positions.T)]
    points = positions + np.asarray(lo, dtype=np.intp)
    order = np.argsort(classes, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(classes, minlength=n)[:n])])
    points = points[order]
    return [points[bounds[c] : bounds[c + 1]] for c in range(n)]


class _ClassStats:
    """One class of a label map, as :func:`pair_values` sees a binary mask."""

    packed = None

    def __init__(self, count, surface, surfels=None):
        self.count = int(count)
        self.surface = surface
        self.surfels = surfels


class LabelStats:
    """What every metric needs from one label map, for all its classes, computed once.

    The class of each pixel (its position in ``labels``), the voxel count of
    each class, and each class's border points and surface elements from a
    single pass over the map each (:func:`_class_border_points`,
    :func:`~skiaa.agreement._surfels.class_surface_elements`), so that k
    classes cost one pass, not k.
    """

    def __init__(self, labelmap, labels, spacing, need_surface=False, need_surfels=False):
        n = len(labels)
        self.index = _class_index(labelmap, labels)
        if n <= 16:  # a count per class beats bincount's conversion of the map to intp
            self.counts = np.array([np.count_nonzero(self.index == c) for c in range(n)])
        else:
            self.counts = np.bincount(self.index.reshape(-1), minlength=n + 1)[:n]
        if need_surface:
            borders = _class_border_points(self.index, n)
            surfaces = [_Surface(points, spacing) for points in borders]
        else:
            surfaces = [None] * n
        if need_surfels:
            elements = class_surface_elements(self.index, n, spacing)
            surfels = [_Surfels(*parts, spacing) for parts in elements]
        else:
            surfels = [None] * n
        self.classes = [_ClassStats(*parts) for parts in zip(self.counts, surfaces, surfels)]


GD_WEIGHTS = ("square", "simple", "uniform")


def _generalized_dice(count1, count2, inter, weight):
    """Generalized Dice of ``mask1`` against the reference ``mask2`` (MONAI's rule).

    Class weights are ``1 / |ref|**2`` (square), ``1 / |ref|`` (simple) or 1;
    a class absent from the reference gets the largest finite weight (1 when
    none is finite); ``2 sum w I / sum w (|A| + |B|)``, 1.0 when that
    denominator is 0 (both maps without any class).
    """
    ref = count2.astype(np.float64)
    with np.errstate(divide="ignore"):
        if weight == "square":
            w = 1.0 / (ref * ref)
        elif weight == "simple":
            w = 1.0 / ref
        else:
            w = np.ones_like(ref)
    absent = np.isinf(w)
    if absent.any():
        finite = w[~absent]
        top = finite.max() if finite.size else 0.0
        w[absent] = top if top > 0 else 1.0
    denom = float(np.sum(w * (count1 + count2)))
    if denom == 0:
        return 1.0
    return float(2.0 * np.sum(w * inter) / denom)


def label_pair_values(
    s1,
    s2,
    metrics,
    tolerance,
    diagonal,
    *,
    hd_percentile="pooled",
    empty="nan",
    weight="square",
    surface="pixels",
):
    """Values of ``metrics`` for one pair of label maps (two :class:`LabelStats`).

    Returns ``(values, one_empty_classes)``: ``values`` maps each metric to an
    array of one value per class (``generalized_dice``: one value, pooled over
    the classes), and ``one_empty_classes`` lists the class positions present
    in exactly one map (NaN distances under ``empty="nan"``). Each class is
    measured as the binary masks ``map == value``, with the binary rules for
    empty masks.
    """
    inter = None
    if any(m in OVERLAP_METRICS for m in metrics):
        n = len(s1.classes)
        same = s1.index == s2.index
        inter = np.bincount(s1.index[same], minlength=n + 1)[:n]
    per_class = [m for m in metrics if m != "generalized_dice"]
    rows = [
        pair_values(
            c1,
            c2,
            per_class,
            tolerance,
            diagonal,
            hd_percentile=hd_percentile,
            empty=empty,
            inter=None if inter is None else int(inter[c]),
            surface=surface,
        )
        for c, (c1, c2) in enumerate(zip(s1.classes, s2.classes))
    ]
    values = {}
    for metric in metrics:
        if metric == "generalized_dice":
            values[metric] = _generalized_dice(s1.counts, s2.counts, inter, weight)
        else:
            values[metric] = np.array([row[metric] for row in rows], dtype=np.float64)
    lonely = [c for c, (c1, c2) in enumerate(zip(s1.classes, s2.classes)) if one_empty(c1, c2)]
    return values, lonely


def check_label_pair(mask1, mask2):
    a = as_label_map(mask1, what="mask1")
    b = as_label_map(mask2, what="mask2")
    if a.shape != b.shape:
        raise ValueError(f"the two masks must have the same shape, got {a.shape} and {b.shape}")
    return a, b


def _one_metric(
    metric,
    mask1,
    mask2,
    *,
    labels=None,
    spacing=None,
    tolerance=0.0,
    normalize=False,
    hd_percentile="pooled",
    empty="nan",
    weight="square",
    surface="pixels",
):
    """One metric of one pair: a float for binary masks, one value per class with labels."""
    labels = check_labels_option(labels)
    a, b = check_pair(mask1, mask2) if labels is None else check_label_pair(mask1, mask2)
    spacing = check_spacing(spacing, a.ndim)
    check_options(hd_percentile, empty)
    name = f"{metric}_normalized" if normalize else metric
    need_surface = needs_borders([metric], hd_percentile, surface)
    need_surfels = needs_surfels([metric], hd_percentile, surface)
    diagonal = image_diagonal(a.shape, spacing)
    options = dict(hd_percentile=hd_percentile, empty=empty, surface=surface)
    if labels is None:
        s1 = MaskStats(a, spacing, need_surface, need_surfels)
        s2 = MaskStats(b, spacing, need_surface, need_surfels)
        return pair_values(s1, s2, [name], tolerance, diagonal, warn_where="", **options)[name]
    # Generalized Dice of maps without any class is 1 (MONAI's rule), not an error.
    labels = resolve_labels(labels, [a, b], allow_empty=metric == "generalized_dice")
    s1 = LabelStats(a, labels, spacing, need_surface, need_surfels)
    s2 = LabelStats(b, labels, spacing, need_surface, need_surfels)
    values, lonely = label_pair_values(
        s1, s2, [name], tolerance, diagonal, weight=weight, **options
    )
    if metric in DISTANCE_METRICS and empty == "nan":
        for c in lonely:
            warnings.warn(
                f"label {labels[c]}: one mask has the class and the other has not: boundary "
                "distances are undefined and returned as NaN",
                EmptyMaskWarning,
                stacklevel=3,  # the caller of the public function
            )
    return values[name]


_LABELS_PARAM = """
    labels : sequence of int or "all", default=None
        Class values of label maps (one integer class per pixel, 0 the
        background): the metric is then computed for each class ``c`` on the
        binary masks ``mask == c``, with the rules for empty masks of binary
        masks (a class absent from both maps: the masks are equal; from one:
        see ``empty``). ``"all"`` means every non-zero value found in either
        map, in increasing order. None: the masks are binary.
"""


# --------------------------------------------------------------------------- #
# Public metrics on two masks
# --------------------------------------------------------------------------- #
@Substitution(labels=_LABELS_PARAM)
def dice(mask1, mask2, *, labels=None):
    """Dice similarity coefficient ``2|A∩B| / (|A|+|B|)`` of two masks.

    Parameters
    ----------
    mask1, mask2 : array-like of the same shape
        Boolean masks, or 0/1 or 0/255 valued; label maps with ``labels``.
    {labels}

    Returns
    -------
    dice : float or ndarray of shape (n_labels,)
        In [0, 1]; 1.0 when both masks are empty (see the module docstring).
        With ``labels``, one value per class, in the order of ``labels``.

    Raises
    ------
    ValueError
        If the shapes differ or a value is not binary.

    See Also
    --------
    jaccard : ``J = D / (2 - D)``.
    pairwise_agreement : every metric on every pair of an image's masks.

    Notes
    -----
    Equals ``medpy.metric.binary.dc``. Counted on bit-packed masks.

    Examples
    --------
    >>> import numpy as np
    >>> from skiaa.agreement import dice
    >>> a = np.zeros((4, 4), bool); a[:2] = True
    >>> b = np.zeros((4, 4), bool); b[1:3] = True
    >>> dice(a, b)
    0.5
    """
    return _one_metric("dice", mask1, mask2, labels=labels)


@Substitution(labels=_LABELS_PARAM)
def jaccard(mask1, mask2, *, labels=None):
    """Jaccard index (IoU) ``|A∩B| / |A∪B|`` of two masks.

    Parameters
    ----------
    mask1, mask2 : array-like of the same shape
        Boolean masks, or 0/1 or 0/255 valued; label maps with ``labels``.
    {labels}

    Returns
    -------
    jaccard : float or ndarray of shape (n_labels,)
        In [0, 1]; 1.0 when both masks are empty (medpy's convention). With
        ``labels``, one value per class, in the order of ``labels``.

    Raises
    ------
    ValueError
        If the shapes differ or a value is not binary.

    See Also
    --------
    dice : ``D = 2J / (1 + J)``.

    Notes
    -----
    Equals ``medpy.metric.binary.jc``.

    Examples
    --------
    >>> import numpy as np
    >>> from skiaa.agreement import jaccard
    >>> a = np.zeros((4, 4), bool); a[:2] = True
    >>> b = np.zeros((4, 4), bool); b[1:3] = True
    >>> round(jaccard(a, b), 4)
    0.3333
    """
    return _one_metric("jaccard", mask1, mask2, labels=labels)


_DISTANCE_PARAMS = (
    """
    mask1, mask2 : array-like of the same shape
        Boolean masks, or 0/1 or 0/255 valued (any number of dimensions);
        label maps with ``labels``.
    spacing : float or sequence of float, default=None
        Pixel size along each axis (rows first); distances are then physical.
        None means 1 pixel.
    normalize : bool, default=False
        Divide by the image diagonal ``sqrt(sum((shape * spacing) ** 2))``, as
        the IMA++ release's ``*_normalized`` columns do.
    empty : {"nan", "worst"}, default="nan"
        When exactly one mask is empty: NaN with an :class:`EmptyMaskWarning`,
        or the image diagonal (1.0 normalised), the worst case the IMA++
        release's normalised distances use.
"""
    + _LABELS_PARAM
)

_DISTANCE_RETURNS = """
    Returns
    -------
    distance : float or ndarray of shape (n_labels,)
        0.0 when both masks are empty; see ``empty`` when exactly one is.
        With ``labels``, one value per class, in the order of ``labels``.

    Raises
    ------
    ValueError
        If the shapes differ, a value is not binary or ``spacing`` is invalid.
"""


@Substitution(params=_DISTANCE_PARAMS, returns=_DISTANCE_RETURNS)
def hausdorff(mask1, mask2, *, spacing=None, normalize=False, empty="nan", labels=None):
    """Hausdorff distance (maximum) between the borders of two binary masks.

    Parameters
    ----------
    {params}

    {returns}

    See Also
    --------
    hd95 : the 95th percentile, robust to outlying pixels.
    assd : the average.

    Notes
    -----
    Equals ``medpy.metric.binary.hd`` (connectivity 1): the largest distance
    from a border pixel of one mask to the nearest border pixel of the other.

    Examples
    --------
    >>> import numpy as np
    >>> from skiaa.agreement import hausdorff
    >>> a = np.zeros((10, 10), bool); a[2:5, 2:5] = True
    >>> b = np.zeros((10, 10), bool); b[2:5, 5:8] = True
    >>> hausdorff(a, b)
    3.0
    """
    return _one_metric(
        "hausdorff",
        mask1,
        mask2,
        spacing=spacing,
        normalize=normalize,
        empty=empty,
        labels=labels,
    )


@Substitution(params=_DISTANCE_PARAMS, returns=_DISTANCE_RETURNS)
def hd95(
    mask1,
    mask2,
    *,
    spacing=None,
    normalize=False,
    empty="nan",
    labels=None,
    hd_percentile="pooled",
):
    """95th-percentile Hausdorff distance between the borders of two binary masks.

    Parameters
    ----------
    {params}
    hd_percentile : {"pooled", "max", "area_weighted"}, default="pooled"
        ``"pooled"``: the 95th percentile of both directed distance sets of
        border pixels concatenated (medpy, seg-metrics, the IMA++ release);
        ``"max"``: the larger of the two directed 95th percentiles (MONAI, the
        Metrics Reloaded definition); ``"area_weighted"``: DeepMind's
        surface-distance, the larger directed percentile over surface
        elements weighted by their length (area in 3-D), without
        interpolation (2-D and 3-D masks). The user guide's table of peers is
        written by ``benchmarks/peer_definitions.py``, which runs them.

    {returns}

    See Also
    --------
    hausdorff : the maximum.

    Notes
    -----
    With ``hd_percentile="pooled"`` equals ``medpy.metric.binary.hd95``:
    ``np.percentile`` (linear interpolation) at 95 of both directed distance
    sets concatenated. "pooled" and "max" differ when one border is much
    longer than the other, or when a small part of one mask lies far from the
    other; "max" is never smaller. With ``"area_weighted"`` equals
    ``surface_distance.compute_robust_hausdorff(..., 95)``: surface elements
    sit between pixel centres and weigh their length, so values differ from
    "max" by up to several pixels.

    Examples
    --------
    >>> import numpy as np
    >>> from skiaa.agreement import hd95
    >>> a = np.zeros((10, 10), bool); a[2:5, 2:5] = True
    >>> b = np.zeros((10, 10), bool); b[2:5, 5:8] = True
    >>> hd95(a, b)
    3.0
    """
    return _one_metric(
        "hd95",
        mask1,
        mask2,
        spacing=spacing,
        normalize=normalize,
        empty=empty,
        hd_percentile=hd_percentile,
        labels=labels,
    )


@Substitution(params=_DISTANCE_PARAMS, returns=_DISTANCE_RETURNS)
def assd(mask1, mask2, *, spacing=None, normalize=False, empty="nan", labels=None):
    """Average symmetric surface distance between two binary masks.

    Parameters
    ----------
    {params}

    {returns}

    See Also
    --------
    hausdorff, hd95

    Notes
    -----
    Equals ``medpy.metric.binary.assd`` of medpy >= 0.5: the mean of both
    directed distance sets concatenated (each border pixel weighs the same).

    Examples
    --------
    >>> import numpy as np
    >>> from skiaa.agreement import assd
    >>> a = np.zeros((10, 10), bool); a[2:5, 2:5] = True
    >>> b = np.zeros((10, 10), bool); b[2:5, 5:8] = True
    >>> round(assd(a, b), 4)
    2.0
    """
    return _one_metric(
        "assd",
        mask1,
        mask2,
        spacing=spacing,
        normalize=normalize,
        empty=empty,
        labels=labels,
    )


_TOLERANCE_PARAMS = (
    """
    mask1, mask2 : array-like of the same shape
        Boolean masks, or 0/1 or 0/255 valued; label maps with ``labels``.
    tolerance : float, default=2.0
        Largest distance (in pixels, or in ``spacing`` units) at which a border
        pixel still counts as matched.
    spacing : float or sequence of float, default=None
        Pixel size along each axis (rows first). None means 1 pixel.
"""
    + _LABELS_PARAM
)


@Substitution(params=_TOLERANCE_PARAMS)
def surface_dice(mask1, mask2, tolerance=2.0, *, spacing=None, labels=None, surface="pixels"):
    """Normalised surface Dice at a tolerance (Nikolov et al., 2021).

    The fraction of both borders' pixels lying within ``tolerance`` of the
    other mask's border.

    Parameters
    ----------
    {params}
    surface : {"pixels", "area_weighted"}, default="pixels"
        ``"pixels"``: medpy's border pixels, each counting once;
        ``"area_weighted"``: DeepMind's surface elements weighted by their
        length (area in 3-D), as ``surface_distance``'s
        ``compute_surface_dice_at_tolerance`` and MONAI's
        ``compute_surface_dice(use_subvoxels=True)`` (2-D and 3-D masks).

    Returns
    -------
    score : float or ndarray of shape (n_labels,)
        In [0, 1]; 1.0 when both masks are empty, 0.0 when exactly one is.
        With ``labels``, one value per class, in the order of ``labels``.

    Raises
    ------
    ValueError
        If the shapes differ, a value is not binary, or ``tolerance`` or
        ``spacing`` is invalid.

    See Also
    --------
    boundary_f1 : the harmonic mean of the two directed fractions.

    Notes
    -----
    Borders are medpy's border pixels (see the module docstring), so
    ``surface_dice(a, b, t) == (|{d12 <= t}| + |{d21 <= t}|) / (|d12| + |d21|)``
    with the directed distances of :func:`hausdorff`.

    Examples
    --------
    >>> import numpy as np
    >>> from skiaa.agreement import surface_dice
    >>> a = np.zeros((10, 10), bool); a[2:5, 2:5] = True
    >>> b = np.zeros((10, 10), bool); b[2:5, 3:6] = True
    >>> surface_dice(a, b, tolerance=0), surface_dice(a, b, tolerance=1)
    (0.5, 1.0)
    """
    tolerance = check_tolerance(tolerance)
    if surface not in SURFACES:
        raise ValueError(f"surface must be 'pixels' or 'area_weighted', got {surface!r}")
    return _one_metric(
        "surface_dice",
        mask1,
        mask2,
        tolerance=tolerance,
        spacing=spacing,
        labels=labels,
        surface=surface,
    )


@Substitution(params=_TOLERANCE_PARAMS)
def boundary_f1(mask1, mask2, tolerance=2.0, *, spacing=None, labels=None):
    """Boundary F1 score at a tolerance (Csurka et al., 2013).

    Precision is the fraction of ``mask1``'s border within ``tolerance`` of
    ``mask2``'s, recall the reverse; the score is their harmonic mean.

    Parameters
    ----------
    {params}

    Returns
    -------
    score : float or ndarray of shape (n_labels,)
        In [0, 1]; 1.0 when both masks are empty, 0.0 when exactly one is.
        With ``labels``, one value per class, in the order of ``labels``.

    Raises
    ------
    ValueError
        If the shapes differ, a value is not binary, or ``tolerance`` or
        ``spacing`` is invalid.

    See Also
    --------
    surface_dice : pools both borders' pixels instead.

    Examples
    --------
    >>> import numpy as np
    >>> from skiaa.agreement import boundary_f1
    >>> a = np.zeros((10, 10), bool); a[2:5, 2:5] = True
    >>> boundary_f1(a, a, tolerance=0)
    1.0
    """
    tolerance = check_tolerance(tolerance)
    return _one_metric(
        "boundary_f1", mask1, mask2, tolerance=tolerance, spacing=spacing, labels=labels
    )


def generalized_dice(mask1, mask2, labels="all", *, weight="square"):
    """Generalized Dice of two label maps (Sudre et al., 2017), ``mask2`` the reference.

    ``GD = 2 sum_c w_c |A_c ∩ B_c| / sum_c w_c (|A_c| + |B_c|)`` over the
    classes ``c`` of ``labels``, with ``w_c = 1 / |B_c|**2``: every class
    counts alike whatever its size, so a small structure is not drowned by a
    large one as in the Dice of the pooled foreground.

    Parameters
    ----------
    mask1, mask2 : array-like of the same shape
        Label maps (one non-negative integer class per pixel); ``mask2`` is
        the reference whose class sizes give the weights.
    labels : sequence of int or "all", default="all"
        Class values pooled; ``"all"``: every non-zero value found in either
        map. Values of neither list are ignored (background).
    weight : {"square", "simple", "uniform"}, default="square"
        ``w_c = 1/|B_c|**2`` (Sudre's), ``1/|B_c|`` or 1.

    Returns
    -------
    score : float
        In [0, 1].

    Raises
    ------
    ValueError
        If the shapes differ, a value is not a class value, or ``labels`` or
        ``weight`` is invalid.

    See Also
    --------
    dice : the Dice of each class (``labels=...``).

    Notes
    -----
    Equals MONAI's ``compute_generalized_dice(y_pred=mask1, y=mask2,
    sum_over_classes=True)`` on the one-hot classes, including its rules: a
    class absent from the reference takes the largest weight of the present
    classes (1 if none is present), and the score is 1.0 when neither map
    holds any class. The score is not symmetric in the two maps (the weights
    come from ``mask2``); agreement tables use the second mask of each pair
    as the reference.

    Examples
    --------
    >>> import numpy as np
    >>> from skiaa.agreement import generalized_dice
    >>> a = np.array([[1, 1, 2, 0]])
    >>> b = np.array([[1, 1, 2, 2]])
    >>> round(generalized_dice(a, b), 4)
    0.8571
    """
    if weight not in GD_WEIGHTS:
        raise ValueError(f"weight must be one of {', '.join(GD_WEIGHTS)}, got {weight!r}")
    if labels is None:
        raise ValueError("generalized_dice needs labels (class values, or 'all')")
    return _one_metric("generalized_dice", mask1, mask2, labels=labels, weight=weight)
