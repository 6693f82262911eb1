"""Multi-rater agreement: Krippendorff's alpha, the generalized energy distance, and
each annotator against the consensus of the others.

The mean pairwise Dice of :func:`skiaa.agreement.image_agreement` is the IMA++
release's inter-annotator agreement; the measures here are what papers on
annotator variability report beside it:

- :func:`krippendorff_alpha`: chance-corrected agreement of all annotators at
  once, nominal, with each pixel (voxel) a unit; missing values allowed;
- :func:`generalized_energy_distance`: the distance between a distribution of
  predicted masks (samples of a probabilistic model) and the annotators' masks,
  with ``d = 1 - IoU`` (Kohl et al., NeurIPS 2018);
- :func:`annotator_vs_consensus`: each annotator's agreement with the STAPLE or
  majority-vote consensus of the *other* annotators, the usual way to rank
  annotators.
"""

import math
import warnings
from typing import NamedTuple

import numpy as np
import pandas as pd

from .._masks import check_mask_stack, load_mask_stack
from ..utils import is_path
from ._consensus import _binary_entropy, majority_vote, staple
from ._engine import check_labels, check_metrics, check_spacing, check_tolerance
from ._metrics import (
    LabelStats,
    MaskStats,
    _class_index,
    _popcount,
    check_labels_option,
    check_options,
    image_diagonal,
    label_pair_values,
    needs_borders,
    needs_surfels,
    pair_values,
    resolve_labels,
)
from ._naming import CONSENSUS_CODES, RELEASE_NAMES

__all__ = [
    "IMAGE_MEASURES",
    "AlphaUndefinedWarning",
    "EnergyDistance",
    "annotator_vs_consensus",
    "generalized_energy_distance",
    "krippendorff_alpha",
]


class AlphaUndefinedWarning(UserWarning):
    """Krippendorff's alpha is undefined (0/0): the data hold a single value.

    When every pairable value is 0 (all masks empty) or every one is 1, both the
    observed and the expected disagreement are 0 and alpha is returned as NaN.
    """


# --------------------------------------------------------------------------- #
# Krippendorff's alpha (nominal, binary values)
# --------------------------------------------------------------------------- #
def _check_with_missing(arr, what):
    """(values, missing) of a float stack whose NaN mark missing values.

    The same rule as :func:`skiaa._masks.as_binary_mask` on the other values
    (all in {0, 1} or all in {0, 255}), without copying the array to drop NaN.
    A stack holding a NaN holds at least one mask: no count to check.
    """
    prefix = f"{what}: " if what is not None else ""
    missing = np.isnan(arr)
    if missing.all():  # no value at all: nothing to pair (alpha warns and is NaN)
        return np.zeros(arr.shape, dtype=bool), missing
    # fmax/fmin skip NaN without the copy np.nanmax makes.
    high, low = np.fmax.reduce(arr, axis=None), np.fmin.reduce(arr, axis=None)
    values = arr == high
    n_zero = np.count_nonzero(arr == 0)
    n_valid = n_zero + np.count_nonzero(missing) + (np.count_nonzero(values) if high else 0)
    if low < 0 or high not in (0, 1, 255) or n_valid != arr.size:
        found = np.unique(arr[~missing])
        shown = ", ".join(str(v) for v in found[:6]) + (", ..." if found.size > 6 else "")
        raise ValueError(
            f"{prefix}mask values must be {{0, 1}} or {{0, 255}} (NaN marks a missing value), "
            f"found {{{shown}}}"
        )
    return values if high else np.zeros(arr.shape, dtype=bool), missing


def _check_stack(masks, *, what=None, allow_missing=False):
    """Stack of one image's masks as (values bool (k, ...), missing bool (k, ...) or None).

    One mask or more. A float array may hold NaN for a missing value when
    ``allow_missing``.
    Everything else goes through :func:`skiaa._masks.check_mask_stack` (n-D
    stacks, sequences of masks or files); its messages are prefixed with
    ``what``. A 2-D array is refused rather than read as (raters, units): it
    is more often one mask passed alone, whose rows would become "raters".
    """
    prefix = f"{what}: " if what is not None else ""
    if isinstance(masks, np.ndarray) and masks.dtype != object and masks.ndim < 3:
        raise ValueError(
            f"{prefix}a mask stack must be (k, H, W) or (k, D, H, W), got shape {masks.shape}; "
            "reliability data of shape (raters, units) can be passed as data[:, None, :]"
        )
    if (
        allow_missing
        and isinstance(masks, np.ndarray)
        and masks.dtype.kind == "f"
        and np.isnan(masks).any()
    ):
        return _check_with_missing(masks, what)
    try:
        # Callers that need two masks check it with their own message.
        return check_mask_stack(masks, min_masks=1), None
    except ValueError as exc:
        raise ValueError(f"{prefix}{exc}") from exc


def _annotator_positions(codes, k, exclude, where, what):
    """Positions of the annotators' masks (consensus codes in ``exclude`` left out), >= 2."""
    keep = list(range(k))
    if codes is not None and exclude:
        keep = [j for j in keep if codes[j] not in set(exclude)]
    if len(keep) < 2:
        raise ValueError(f"{where}{what} needs at least 2 annotator masks, got {len(keep)}")
    return keep


class _Masks:
    """Per-mask quantities of one image's masks (packed bits, borders), computed once.

    ``values(i, j, where)`` gives the metrics of masks ``i`` and ``j`` in the
    order of ``metrics``; ``where`` starts the message of an
    :class:`~skiaa.agreement.EmptyMaskWarning`, naming the pair in the caller's
    words ("prediction and mask 2: ").
    """

    # Every option is required: the public functions that build it own the defaults.
    def __init__(self, masks, metrics, *, spacing, tolerance, hd_percentile, empty):
        check_options(hd_percentile, empty)
        spacing = check_spacing(spacing, masks[0].ndim)
        self.options = {"hd_percentile": hd_percentile, "empty": empty}
        need_surface = needs_borders(metrics, hd_percentile)
        surfels = needs_surfels(metrics, hd_percentile)
        self.stats = [MaskStats(mask, spacing, need_surface, surfels) for mask in masks]
        self.diagonal = image_diagonal(masks[0].shape, spacing)
        self.metrics = list(metrics)
        self.tolerance = tolerance

    def values(self, i, j, where):
        row = pair_values(
            self.stats[i],
            self.stats[j],
            self.metrics,
            self.tolerance,
            self.diagonal,
            warn_where=where,
            **self.options,
        )
        return np.array([row[m] for m in self.metrics], dtype=np.float64)


def _alpha_sums(values, missing):
    """Sufficient statistics of binary nominal alpha for one stack of masks.

    Returns ``(o01, n0, n1)``: the off-diagonal cell of the coincidence matrix
    and the pairable 0 and 1 values. Each unit (pixel) with ``m >= 2`` values,
    ``v`` of them 1, adds ``v (m - v) / (m - 1)`` to ``o01`` (Krippendorff 2011,
    section C); units are grouped by ``(m, v)`` with one ``bincount``, so the
    cost is one pass over the stack whatever the number of pixels.
    """
    k = values.shape[0]
    if missing is None:
        counts = np.bincount(_count_true(values), minlength=k + 1)
        m = np.full(k + 1, k)
        v = np.arange(k + 1)
    else:
        present = ~missing
        codes = _count_true(present) * (k + 1) + _count_true(values & present)
        counts = np.bincount(codes, minlength=(k + 1) ** 2)
        m = np.repeat(np.arange(k + 1), k + 1)
        v = np.tile(np.arange(k + 1), k + 1)
    pairable = m >= 2  # units of one value cannot be paired (absent (m, v) add 0)
    counts, m, v = counts[pairable], m[pairable], v[pairable]
    o01 = float(np.sum(counts * v * (m - v) / (m - 1)))
    n1 = float(np.sum(counts * v))
    n0 = float(np.sum(counts * (m - v)))
    return o01, n0, n1


def _label_alpha_sums(stack, labels):
    """Sufficient statistics of nominal alpha over classes for one stack of label maps.

    Returns ``(disagreement, totals)``: the sum of the coincidence matrix's
    off-diagonal cells, ``sum_u (m_u**2 - sum_c n_uc**2) / (m_u - 1)`` with
    ``n_uc`` the number of annotators giving class ``c`` to pixel ``u``, and
    the number of values of each class (the last: values not in ``labels``).
    One count per class over the stack, whatever the number of pixels.
    """
    k = stack.shape[0]
    n = len(labels)
    totals = np.zeros(n + 1)
    if k < 2:  # no pixel holds a pair of values
        return 0.0, totals
    classes = _class_index(stack, labels)
    squares = 0.0
    for c in range(n + 1):
        per_pixel = _count_true(classes == c)
        totals[c] = per_pixel.sum()
        squares += float(np.dot(per_pixel, per_pixel))
    return (k * k * per_pixel.size - squares) / (k - 1), totals


def _count_true(stack):
    """Per-pixel number of True along the stack's first axis, flat, as int64.

    Summed in uint8 while it cannot overflow (fewer than 256 masks): several
    times faster than in int64. The dtypes change no count, so mutation
    testing leaves these two lines alone.
    """
    dtype = np.uint8 if stack.shape[0] < 256 else np.int64  # pragma: no mutate
    return stack.sum(axis=0, dtype=dtype).astype(np.int64).ravel()  # pragma: no mutate


def _alpha_from_label_sums(disagreement, totals):
    n = totals.sum()
    expected = n * n - float(np.dot(totals, totals))
    if expected == 0:
        warnings.warn(
            "Krippendorff's alpha is undefined when every pairable value is the same "
            "class; returned as NaN",
            AlphaUndefinedWarning,
            stacklevel=3,
        )
        return math.nan
    return 1.0 - (n - 1.0) * disagreement / expected


def _alpha_from_sums(o01, n0, n1):
    if n0 == 0 or n1 == 0:
        warnings.warn(
            "Krippendorff's alpha is undefined when every pairable value is the same "
            f"({'no' if n1 == 0 else 'every'} pixel marked by the annotators); returned as NaN",
            AlphaUndefinedWarning,
            stacklevel=3,
        )
        return math.nan
    n = n0 + n1
    # alpha = 1 - D_o / D_e with D_o = 2 o01 / n and D_e = 2 n0 n1 / (n (n - 1)).
    return 1.0 - (n - 1.0) * o01 / (n0 * n1)


def _images(masks):
    """``(index, stack)`` of each image of a pooled ``masks`` argument."""
    if is_path(masks) or not hasattr(masks, "__iter__"):
        raise ValueError(
            f"with pooled=True, masks must be a sequence of mask stacks (one per image), "
            f"got {type(masks).__name__}"
        )
    images = list(masks)
    if not images:
        raise ValueError("with pooled=True, masks must hold at least one image's stack")
    return enumerate(images)


def _label_stack(masks, what=None):
    """One image's label maps as an integer stack; messages prefixed with ``what``."""
    try:
        return load_mask_stack(masks, min_masks=1, labels=True)[0]
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}" if what else str(exc)) from exc


def _need_two_annotators(counts, pooled):
    """Refuse alpha when no image has two masks (``counts``: masks per image).

    No value could then be paired: alpha would be 0/0, a NaN whose warning
    blames the data's values rather than the number of annotators.
    """
    if max(counts) >= 2:  # never empty: pooled alpha refuses a list of no image
        return
    found = (
        f"with pooled=True, each of the {len(counts)} image(s) has one mask"
        if pooled
        else f"got {counts[0]} mask"
    )
    raise ValueError(
        "Krippendorff's alpha needs the masks of at least two annotators (it measures "
        f"their agreement); {found}"
    )


def _label_alpha(masks, labels, pooled):
    stacks = [(None, masks)] if not pooled else list(_images(masks))
    stacks = [_label_stack(m, None if i is None else f"image {i}") for i, m in stacks]
    _need_two_annotators([len(stack) for stack in stacks], pooled)
    labels = resolve_labels(labels, [m for stack in stacks for m in stack], allow_empty=True)
    if labels.size == 0:  # "all" on maps of zeros only: one class, alpha undefined
        labels = np.array([0], dtype=np.int64)
    disagreement, totals = 0.0, np.zeros(len(labels) + 1)
    for stack in stacks:
        d, t = _label_alpha_sums(stack, labels)
        disagreement += d
        totals += t
    return _alpha_from_label_sums(disagreement, totals)


def krippendorff_alpha(masks, *, pooled=False, labels=None):
    """Krippendorff's alpha of binary masks or label maps (nominal level, each pixel a unit).

    Chance-corrected agreement of all annotators at once:
    ``alpha = 1 - D_o / D_e``, the observed disagreement over the disagreement
    expected if the values were assigned at random. 1 is perfect agreement,
    0 agreement at chance level; below 0 systematic disagreement.

    Parameters
    ----------
    masks : array-like of shape (k, ...), or sequence of k masks or paths
        The ``k`` masks of one image (2-D images or n-D volumes): bool, 0/1 or
        0/255, or mask files. In a float array, NaN marks a missing value (an
        annotator who did not rate that pixel); a pixel with fewer than two
        values cannot be paired and does not count.
        With ``pooled=True``: a sequence of such stacks, one per image
        (ragged: each image its own number of annotators and its own shape).
    pooled : bool, default=False
        Compute one alpha over the pixels of all the images of ``masks``
        (an annotator who did not outline an image simply gives no value
        there) instead of the alpha of one image.
    labels : sequence of int or "all", default=None
        The masks are label maps (one integer class per pixel; no missing
        values) and alpha is nominal over these classes, every value not
        listed counting as one more class (the background); ``"all"``: every
        value is its own class. None: binary masks.

    Returns
    -------
    alpha : float
        In [-1, 1]; NaN with an :class:`AlphaUndefinedWarning` when every
        pairable value is the same (all masks empty, say), where alpha is 0/0.

    Raises
    ------
    ValueError
        If a value is not binary (or NaN, in a float array), masks of an image
        differ in shape, an image has no mask, or there is a single annotator
        (one mask; with ``pooled=True``, one mask in every image).

    See Also
    --------
    skiaa.agreement.pairwise_agreement : Dice and distances of each pair.
    skiaa.AgreementTransformer : alpha of each image as a feature.

    Notes
    -----
    Values are nominal (0 = background, 1 = lesion); the identities of the
    annotators do not enter nominal alpha, only how many rated each pixel and
    how many of them marked it. With ``m_u`` values at pixel ``u``, ``v_u`` of
    them 1, the coincidence matrix's off-diagonal cell is
    ``o01 = sum_u v_u (m_u - v_u) / (m_u - 1)`` over pixels with ``m_u >= 2``,
    ``n1 = sum v_u``, ``n0 = sum (m_u - v_u)``, ``n = n0 + n1`` and
    ``alpha = 1 - (n - 1) o01 / (n0 n1)`` (Krippendorff, *Computing
    Krippendorff's alpha-reliability*, 2011). Pixels are grouped by
    ``(m_u, v_u)``, so the cost is one pass over the stack; the values equal
    those of the ``krippendorff`` package (``level_of_measurement="nominal"``)
    to rounding.

    Pixel-level alpha depends on the field of view: background that every
    annotator leaves out adds agreed-upon 0 values, which raises the
    expected disagreement's share of 0s. Compare alphas only between images
    framed alike (or crops of equal extent around the lesion).

    Examples
    --------
    >>> import numpy as np
    >>> from skiaa.agreement import krippendorff_alpha
    >>> masks = np.zeros((3, 6, 6), bool)
    >>> masks[:, 1:4, 1:4] = True
    >>> krippendorff_alpha(masks)
    1.0
    >>> masks[2, 4, 1:4] = True  # the third annotator draws one row more
    >>> round(krippendorff_alpha(masks), 4)
    0.8628
    """
    labels = check_labels_option(labels)
    if labels is not None:
        return _label_alpha(masks, labels, pooled)
    if not pooled:
        values, missing = _check_stack(masks, allow_missing=True)
        _need_two_annotators([values.shape[0]], pooled=False)
        return _alpha_from_sums(*_alpha_sums(values, missing))
    total = np.zeros(3)
    counts = []
    for index, stack in _images(masks):
        values, missing = _check_stack(stack, what=f"image {index}", allow_missing=True)
        counts.append(values.shape[0])
        total += _alpha_sums(values, missing)
    _need_two_annotators(counts, pooled=True)
    return _alpha_from_sums(*total)


# --------------------------------------------------------------------------- #
# Generalized energy distance
# --------------------------------------------------------------------------- #
class EnergyDistance(NamedTuple):
    """Result of :func:`generalized_energy_distance`.

    Attributes
    ----------
    ged : float
        ``2 * cross - sample_diversity - annotator_diversity``: the squared
        generalized energy distance ``D^2_GED`` of Kohl et al. (2018); 0 when
        both sets hold the same masks in the same proportions.
    cross : float
        ``E d(S, Y)``: mean distance between a sample and an annotator's mask.
    sample_diversity : float
        ``E d(S, S')``: mean distance between two samples.
    annotator_diversity : float
        ``E d(Y, Y')``: mean distance between two annotators' masks (the
        annotators' own variability).
    """

    ged: float
    cross: float
    sample_diversity: float
    annotator_diversity: float


def _iou_distances(stats_a, stats_b):
    """Matrix of ``1 - IoU`` between two lists of packed masks (both empty: 0)."""
    out = np.empty((len(stats_a), len(stats_b)))
    for i, s in enumerate(stats_a):
        for j, t in enumerate(stats_b):
            inter = _popcount(s.packed & t.packed)
            union = s.count + t.count - inter
            out[i, j] = 0.0 if union == 0 else 1.0 - inter / union
    return out


def _label_iou_distances(stats_a, stats_b):
    """Matrix of ``1 - mean over classes of IoU`` between two lists of :class:`LabelStats`."""
    out = np.empty((len(stats_a), len(stats_b)))
    for i, s in enumerate(stats_a):
        for j, t in enumerate(stats_b):
            values, _ = label_pair_values(s, t, ["jaccard"], 0.0, 1.0)
            out[i, j] = 1.0 - values["jaccard"].mean()
    return out


def _mean_distance(dist, *, same, unbiased):
    if same and unbiased:
        n = len(dist)  # the diagonal holds d(S, S) = 0: the sum is over the pairs
        return float(dist.sum() / (n * (n - 1)))
    return float(dist.mean())


def generalized_energy_distance(samples, annotators, *, unbiased=False, labels=None):
    """Generalized energy distance between predicted samples and annotators' masks.

    ``D^2_GED = 2 E d(S, Y) - E d(S, S') - E d(Y, Y')`` with ``d = 1 - IoU``,
    where ``S, S'`` are independent draws from the samples (a probabilistic
    segmentation model's outputs for one image) and ``Y, Y'`` from the
    annotators' masks of that image (Kohl et al., *A probabilistic U-Net for
    segmentation of ambiguous images*, NeurIPS 2018). It is small when the
    samples reproduce the annotators' variability, not only their average.

    Parameters
    ----------
    samples : array-like of shape (n, ...), or sequence of n masks or paths
        The predicted masks of one image (bool, 0/1 or 0/255; any number of
        dimensions).
    annotators : array-like of shape (m, ...), or sequence of m masks or paths
        The annotators' masks of the same image, of the same shape.
    unbiased : bool, default=False
        False averages the diversity terms over all ordered pairs, a mask with
        itself included (distance 0), as Kohl et al. and the PHiSeg code do:
        with ``n`` samples ``E d(S, S')`` is ``(n - 1) / n`` times the mean
        over distinct pairs. True averages over distinct pairs only (the
        unbiased U-statistic; needs ``n, m >= 2``).
    labels : sequence of int or "all", default=None
        The masks are label maps and ``d = 1 - mean_c IoU_c``, the mean over
        these classes of each class's IoU (a class absent from both maps has
        IoU 1, from one map 0), the distance of multi-class GED in Kohl et
        al.'s and PHiSeg's code (Baumgartner et al., MICCAI 2019).
        ``"all"``: every non-zero value found in either set.

    Returns
    -------
    result : EnergyDistance
        Named tuple ``(ged, cross, sample_diversity, annotator_diversity)``.

    Raises
    ------
    ValueError
        If a mask is invalid, the shapes differ, a set is empty, or
        ``unbiased=True`` with fewer than two masks in a set.

    See Also
    --------
    krippendorff_alpha : agreement of the annotators alone.
    score_segmentation : one predicted mask against the annotators.

    Notes
    -----
    IoU of two empty masks is 1 (they are equal, as in
    :func:`skiaa.agreement.jaccard`), so their distance is 0. The IoU of every
    pair is counted once on bit-packed masks.

    Examples
    --------
    >>> import numpy as np
    >>> from skiaa.agreement import generalized_energy_distance
    >>> annotators = np.zeros((2, 4, 4), bool)
    >>> annotators[0, :2] = annotators[1, :3] = True
    >>> generalized_energy_distance(annotators, annotators).ged
    0.0
    >>> result = generalized_energy_distance(annotators[:1], annotators)
    >>> round(result.ged, 4), round(result.annotator_diversity, 4)
    (0.1667, 0.1667)
    """
    labels = check_labels_option(labels)
    if labels is None:
        s_stack, _ = _check_stack(samples, what="samples")
        y_stack, _ = _check_stack(annotators, what="annotators")
    else:
        s_stack = _label_stack(samples, "samples")
        y_stack = _label_stack(annotators, "annotators")
    if s_stack.shape[1:] != y_stack.shape[1:]:
        raise ValueError(
            "samples and annotators must have masks of the same shape, got "
            f"{s_stack.shape[1:]} and {y_stack.shape[1:]}"
        )
    if unbiased:
        for name, stack in (("samples", s_stack), ("annotators", y_stack)):
            if stack.shape[0] < 2:
                raise ValueError(f"unbiased=True needs at least 2 {name}, got {stack.shape[0]}")
    if labels is None:
        s_stats = [MaskStats(mask, None) for mask in s_stack]
        y_stats = [MaskStats(mask, None) for mask in y_stack]
        distances = _iou_distances
    else:
        labels = resolve_labels(labels, [*s_stack, *y_stack])
        s_stats = [LabelStats(mask, labels, None) for mask in s_stack]
        y_stats = [LabelStats(mask, labels, None) for mask in y_stack]
        distances = _label_iou_distances
    cross = float(distances(s_stats, y_stats).mean())
    d_ss = _mean_distance(distances(s_stats, s_stats), same=True, unbiased=unbiased)
    d_yy = _mean_distance(distances(y_stats, y_stats), same=True, unbiased=unbiased)
    return EnergyDistance(2.0 * cross - d_ss - d_yy, cross, d_ss, d_yy)


# --------------------------------------------------------------------------- #
# Each annotator against the consensus
# --------------------------------------------------------------------------- #
_CONSENSUS_METHODS = ("staple", "majority")


def _consensus_mask(stack, method):
    if method == "majority":
        return majority_vote(stack)
    return staple(stack).mask


def annotator_vs_consensus(
    masks,
    annotators=None,
    *,
    method="staple",
    leave_one_out=True,
    metrics=None,
    image_id=None,
    spacing=None,
    tolerance=2.0,
    hd_percentile="pooled",
    empty="nan",
    exclude=CONSENSUS_CODES,
    naming="skiaa",
):
    """Each annotator's mask against the consensus mask of an image.

    With ``leave_one_out=True`` (the default) each mask is compared with the
    consensus of the *other* annotators' masks, so that an annotator never
    agrees with a consensus they helped to make; with ``False``, with the
    consensus of all masks.

    Parameters
    ----------
    masks : array-like of shape (k, ...), or sequence of k masks or paths
        The ``k >= 2`` annotators' masks of one image (bool, 0/1 or 0/255).
    annotators : sequence of str, default=None
        One annotator code per mask. Masks with the same code are one
        annotator's: leaving one out leaves out all of that annotator's masks.
        None treats every mask as a different annotator.
    method : {"staple", "majority"}, default="staple"
        The consensus: :func:`skiaa.agreement.staple` (thresholded at 0.5) or
        :func:`skiaa.agreement.majority_vote` (ties to the lesion), the two
        consensus masks of the IMA++ release.
    leave_one_out : bool, default=True
        Compare each mask with the consensus of the other annotators' masks.
    metrics : str or list of str, default=None
        Metric names of :data:`skiaa.agreement.METRICS` (or the release's);
        None means :data:`skiaa.agreement.DEFAULT_METRICS`.
    image_id : str, default=None
        Written in an ``image_id`` column, so that tables of several images
        can be concatenated.
    spacing : float or sequence of float, default=None
        Pixel size along each axis; distances are then physical.
    tolerance : float, default=2.0
        Tolerance of ``surface_dice`` and ``boundary_f1``.
    hd_percentile : {"pooled", "max", "area_weighted"}, default="pooled"
        HD95 over both directed distance sets pooled (medpy, the IMA++ release)
        or the larger of the two directed 95th percentiles; see
        :func:`skiaa.agreement.hd95`.
    empty : {"nan", "worst"}, default="nan"
        Distances when exactly one of a mask and its consensus is empty: NaN
        (with an :class:`~skiaa.agreement.EmptyMaskWarning`) or the image
        diagonal (1.0 normalised, the release's worst case).
    exclude : sequence of str, default=("ST", "MV")
        Annotator codes of consensus masks already in ``masks`` (the release's
        STAPLE and majority-vote masks): they get no row and do not enter the
        consensus. Ignored without ``annotators``.
    naming : {"skiaa", "release"}, default="skiaa"
        Metric column names: skiaa's or the IMA++ release's.

    Returns
    -------
    table : pandas.DataFrame
        One row per mask (excluded ones dropped): ``image_id`` (when given),
        ``index`` (position in ``masks``), ``annotator`` (when given),
        ``consensus`` (``method``), ``n_others`` (masks in the consensus), then
        one float column per metric. A row whose annotator has no other
        annotator to compare with (every mask theirs) has ``n_others = 0`` and
        NaN metrics.

    Raises
    ------
    ValueError
        If fewer than two masks remain, the masks are invalid, or a parameter
        is unknown.

    Warns
    -----
    EmptyMaskWarning
        When a mask or a consensus is empty and the other is not (distances NaN).

    See Also
    --------
    skiaa.agreement.staple : the consensus, and each annotator's sensitivity.
    pairwise_agreement : every pair of masks.

    Examples
    --------
    >>> import numpy as np
    >>> from skiaa.agreement import annotator_vs_consensus
    >>> masks = np.zeros((3, 8, 8), bool)
    >>> masks[0, 2:6, 2:6] = masks[1, 2:6, 2:6] = masks[2, 2:7, 2:7] = True
    >>> annotator_vs_consensus(masks, ["A", "B", "C"], method="majority",
    ...                        metrics=["dice"])
       index annotator consensus  n_others      dice
    0      0         A  majority         2  0.780488
    1      1         B  majority         2  0.780488
    2      2         C  majority         2  0.780488
    """
    if method not in _CONSENSUS_METHODS:
        raise ValueError(f"method must be 'staple' or 'majority', got {method!r}")
    if naming not in ("skiaa", "release"):
        raise ValueError(f"naming must be 'skiaa' or 'release', got {naming!r}")
    metrics = check_metrics(metrics)
    tolerance = check_tolerance(tolerance)
    check_options(hd_percentile, empty)
    stack, _ = _check_stack(masks, what=None if image_id is None else f"image {image_id}")
    k = stack.shape[0]
    codes = check_labels(annotators, k, "annotators")
    keep = _annotator_positions(
        codes,
        k,
        exclude,
        f"image {image_id}: " if image_id is not None else "",
        "annotator_vs_consensus",
    )
    who = {j: (codes[j] if codes is not None else j) for j in keep}
    full = None if leave_one_out else _consensus_mask(stack[keep], method)
    rows = []
    where = f"image {image_id}, " if image_id is not None else ""
    for j in keep:
        others = [i for i in keep if who[i] != who[j]] if leave_one_out else keep
        row = {} if image_id is None else {"image_id": image_id}
        row["index"] = j
        if codes is not None:
            row["annotator"] = codes[j]
        row["consensus"] = method
        row["n_others"] = len(others)
        if not others:
            values = np.full(len(metrics), np.nan)
        else:
            reference = full if full is not None else _consensus_mask(stack[others], method)
            pair = _Masks(
                [stack[j], reference],
                metrics,
                spacing=spacing,
                tolerance=tolerance,
                hd_percentile=hd_percentile,
                empty=empty,
            )
            values = pair.values(0, 1, f"{where}mask {j} and the consensus of the others: ")
        row.update(zip(metrics, values))
        rows.append(row)
    table = pd.DataFrame(rows)
    table[metrics] = table[metrics].astype(np.float64)
    if naming == "release":
        table = table.rename(columns=RELEASE_NAMES)
    return table


# --------------------------------------------------------------------------- #
# Whole-stack measures of one image, for AgreementTransformer(measures=...)
# --------------------------------------------------------------------------- #
#: Per-image multi-rater measures :class:`~skiaa.AgreementTransformer` computes
#: on an image's whole stack of masks (its ``measures`` parameter):
#: ``krippendorff_alpha`` (:func:`krippendorff_alpha` of the image),
#: ``annotator_diversity`` (the ``annotator_diversity`` of
#: :func:`generalized_energy_distance`, mask with itself included) and
#: ``union_entropy`` (the mean of :func:`skiaa.agreement.uncertainty_map`'s
#: entropy, in bits, over the pixels some annotator marked; 0 when all masks
#: agree, NaN when all are empty).
IMAGE_MEASURES = ("krippendorff_alpha", "annotator_diversity", "union_entropy")


def check_measures(measures):
    """Validated measure names as a list (possibly empty)."""
    if measures is None:
        return []
    if isinstance(measures, str):
        measures = [measures]
    out = []
    for name in measures:
        if name not in IMAGE_MEASURES:
            raise ValueError(f"unknown measure {name!r}; choose from {', '.join(IMAGE_MEASURES)}")
        if name in out:
            raise ValueError(f"measure {name!r} is given twice")
        out.append(name)
    return out


def image_measures(stack, measures):
    """Values of the validated ``measures`` for one image's bool stack (k, ...).

    Returns ``(values, alpha_undefined)``; nothing is warned (this runs in
    worker threads), the caller warns when alpha is undefined.
    """
    out = np.empty(len(measures))
    alpha_undefined = False
    for i, name in enumerate(measures):
        if name == "krippendorff_alpha":
            o01, n0, n1 = _alpha_sums(stack, None)
            alpha_undefined = n0 == 0 or n1 == 0
            out[i] = math.nan if alpha_undefined else 1.0 - (n0 + n1 - 1.0) * o01 / (n0 * n1)
        elif name == "annotator_diversity":
            stats = [MaskStats(mask, None) for mask in stack]
            out[i] = _iou_distances(stats, stats).mean()
        else:  # union_entropy
            # From the validated stack itself: uncertainty_map would validate it
            # again without its spacing, and read a volume's last axis of 1 or
            # 3 voxels as colour channels.
            marked = stack.any(axis=0)
            p = stack.mean(axis=0)[marked]
            out[i] = _binary_entropy(p, 2.0).mean() if p.size else math.nan
    return out, alpha_undefined
