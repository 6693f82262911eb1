"""The pairwise engine: validation, per-pair values and per-image summaries.

One implementation behind :func:`~skiaa.agreement.pairwise_agreement`,
:func:`~skiaa.agreement.image_agreement`, :class:`~skiaa.AgreementTransformer`
and :func:`~skiaa.datasets.mask_folder_agreement`, so that the four give the
same numbers for the same masks and accept the same parameters.
"""

import itertools
import warnings

import numpy as np
import pandas as pd

from .._masks import load_mask_stack
from ._metrics import (
    EmptyMaskWarning,
    LabelStats,
    MaskStats,
    check_labels_option,
    check_options,
    check_spacing,
    check_tolerance,
    image_diagonal,
    label_pair_values,
    needs_borders,
    needs_surfels,
    one_empty,
    pair_values,
    resolve_labels,
)
from ._naming import (
    DISTANCE_METRICS,
    RELEASE_NAMES,
    check_metrics,
    check_statistics,
    label_columns,
)

__all__ = [
    "EmptyPairs",
    "check_labels",
    "check_labels_option",
    "image_values",
    "check_options",
    "load_stack",
    "map_batches",
    "warn_empty_pairs",
    "check_metrics",
    "check_spacing",
    "check_statistics",
    "check_tolerance",
    "pair_indices",
    "pairs_frame",
    "pairwise_values",
    "summarise",
    "summarise_groups",
]


def check_labels(labels, k, what):
    """``labels`` as a list of one entry per mask, or None; ValueError otherwise."""
    if labels is None:
        return None
    labels = list(labels)
    if len(labels) != k:
        raise ValueError(f"{what} must have one entry per mask ({k}), got {len(labels)}")
    return labels


def pair_indices(k):
    """The unordered pairs ``(i, j)``, ``i < j``, of ``k`` masks, in combinations order."""
    return list(itertools.combinations(range(k), 2))


def load_stack(masks, spacing, *, image_index, min_masks, labels):
    """Validated bool stack (k, ...) of one image and the spacing to measure it with.

    ``spacing`` given by the caller wins; otherwise the voxel size stored in
    the masks' NIfTI files, if any; otherwise None (1 per axis). The spacing
    is checked against the masks' dimension, naming the image. With
    ``labels`` the masks are label maps and the stack holds integers.
    """
    # A spacing with one value per axis says how many axes are spatial: a
    # trailing axis of 1, 3 or 4 entries is then not read as colour channels.
    spatial_ndim = None if spacing is None or np.ndim(spacing) == 0 else len(spacing)
    stack, stored = load_mask_stack(
        masks,
        image_index=image_index,
        min_masks=min_masks,
        labels=labels,
        spatial_ndim=spatial_ndim,
    )
    if stack.shape[0] == 0:  # no mask (few_masks="nan"): no shape to check a spacing against
        return stack, None
    chosen = stored if spacing is None else spacing
    try:
        chosen = check_spacing(chosen, stack.ndim - 1)
    except ValueError as exc:
        where = f"image {image_index}: " if image_index is not None else ""
        raise ValueError(f"{where}{exc} for masks of shape {stack.shape[1:]}") from None
    return stack, chosen


def map_batches(func, items, n_jobs=None, *args):
    """``func(batch, *args)`` over contiguous batches of ``items``, in order (a generator).

    Serial (one batch) when ``n_jobs`` resolves to one worker; otherwise about
    four batches per worker (load balance) run on joblib threads, in a
    :func:`joblib.parallel_config` context's backend (Dask, say) when there is
    one. Threads, not processes: the kernels (bit counts, erosions, k-d tree
    queries, PNG decoding) release the GIL, and threads share the masks instead
    of pickling whole stacks to other processes. Results come back in the
    order of ``items`` whichever worker computed them, so that the caller can
    warn in that order.
    """
    from joblib import Parallel, delayed, effective_n_jobs

    items = list(items)
    n_workers = effective_n_jobs(n_jobs)
    n_batches = 1 if n_workers == 1 else min(len(items), 4 * n_workers)
    bounds = np.linspace(0, len(items), max(n_batches, 1) + 1).round().astype(int)
    batches = [items[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    if n_workers == 1:
        return (func(batch, *args) for batch in batches)
    jobs = (delayed(func)(batch, *args) for batch in batches)
    return Parallel(n_jobs=n_jobs, prefer="threads", return_as="generator")(jobs)


class EmptyPairs(list):
    """Pairs ``(i, j)`` whose boundary distances are NaN because exactly one mask is empty.

    For label maps the entries are ``(i, j, label)``: the class present in one
    mask of the pair only.
    """


def pairwise_values(
    stack,
    metrics,
    *,
    spacing=None,
    tolerance,
    hd_percentile,
    empty,
    labels=None,
):
    """Metric values of a validated stack (k, ...), pairs i < j in combinations order.

    Returns ``(values, empty_pairs)``: ``values`` of shape (n_pairs, n_columns)
    and the :class:`EmptyPairs` whose distances are NaN (for the caller to
    report: warnings are not issued here, so that the engine can run in
    threads, where recording warnings is not safe). Each mask is bit-packed
    and its border found once, then reused by its ``k - 1`` pairs.
    ``metrics`` must already be validated skiaa names, ``spacing`` checked.

    With ``labels`` (class values, resolved) the stack holds label maps and the
    columns are :func:`label_columns`: per metric the mean over classes, then
    each class; each map's classes and their borders come from one pass over
    it (:class:`LabelStats`).
    """
    need_surface = needs_borders(metrics, hd_percentile)
    wants_distance = any(m.removesuffix("_normalized") in DISTANCE_METRICS for m in metrics)
    diagonal = image_diagonal(stack.shape[1:], spacing)
    pairs = pair_indices(stack.shape[0])
    out = np.empty((len(pairs), len(label_columns(metrics, labels))), dtype=np.float64)
    lonely = EmptyPairs()
    options = dict(hd_percentile=hd_percentile, empty=empty)
    surfels = needs_surfels(metrics, hd_percentile)
    if labels is None:
        stats = [MaskStats(mask, spacing, need_surface, surfels) for mask in stack]
    else:
        stats = [LabelStats(mask, labels, spacing, need_surface, surfels) for mask in stack]
    for p, (i, j) in enumerate(pairs):
        if labels is None:
            row = pair_values(stats[i], stats[j], metrics, tolerance, diagonal, **options)
            out[p] = [row[m] for m in metrics]
            if wants_distance and empty == "nan" and one_empty(stats[i], stats[j]):
                lonely.append((i, j))
            continue
        row, absent = label_pair_values(
            stats[i], stats[j], metrics, tolerance, diagonal, **options
        )
        parts = []
        for m in metrics:
            if m == "generalized_dice":
                parts.append([row[m]])
            else:
                # NaN propagates into the mean over classes, as into every summary.
                parts.append([row[m].mean(), *row[m]])
        out[p] = np.concatenate(parts)
        if wants_distance and empty == "nan":
            lonely.extend((i, j, int(labels[c])) for c in absent)
    return out, lonely


def image_values(
    masks,
    metrics,
    *,
    spacing=None,
    tolerance,
    hd_percentile,
    empty,
    image_index=None,
    min_masks=2,
    labels=None,
):
    """Read one image's masks and compute every pair: ``(stack, values, empty_pairs)``.

    :func:`load_stack` then :func:`pairwise_values`; ``metrics`` and the
    options must already be validated, ``labels`` by ``check_labels_option``
    (``"all"`` is resolved here, on this image's maps).
    """
    stack, spacing = load_stack(
        masks, spacing, image_index=image_index, min_masks=min_masks, labels=labels is not None
    )
    values, lonely = pairwise_values(
        stack,
        metrics,
        spacing=spacing,
        tolerance=tolerance,
        hd_percentile=hd_percentile,
        empty=empty,
        labels=resolve_labels(labels, stack),
    )
    return stack, values, lonely


def warn_empty_pairs(empty_pairs, where, stacklevel=3):
    """One :class:`EmptyMaskWarning` per pair of ``empty_pairs`` (NaN distances)."""
    for i, j, *label in empty_pairs:
        what = (
            f"label {label[0]} is in one mask only"
            if label
            else "one mask is empty and the other is not"
        )
        warnings.warn(
            f"{where}masks {i} and {j}: {what}: boundary "
            "distances are undefined and returned as NaN",
            EmptyMaskWarning,
            stacklevel=stacklevel,
        )


def pairs_frame(
    masks,
    metrics=None,
    *,
    names=None,
    annotators=None,
    image_id=None,
    spacing=None,
    tolerance=2.0,
    hd_percentile,
    empty,
    naming,
    labels=None,
):
    """The pairs table of one image and its :class:`EmptyPairs`, without warning.

    What :func:`~skiaa.agreement.pairwise_agreement` returns (see there for the
    parameters); callers running in threads report the empty pairs themselves.
    """
    if naming not in ("skiaa", "release"):
        raise ValueError(f"naming must be 'skiaa' or 'release', got {naming!r}")
    metrics = check_metrics(metrics)
    tolerance = check_tolerance(tolerance)
    check_options(hd_percentile, empty)
    labels = check_labels_option(labels)
    stack, values, lonely = image_values(
        masks,
        metrics,
        spacing=spacing,
        tolerance=tolerance,
        hd_percentile=hd_percentile,
        empty=empty,
        image_index=image_id,
        labels=labels,
    )
    k = stack.shape[0]
    names = check_labels(names, k, "names")
    annotators = check_labels(annotators, k, "annotators")
    index = np.asarray(pair_indices(k), dtype=np.int64).reshape(-1, 2)
    columns = {}
    if image_id is not None:
        columns["image_id"] = [image_id] * len(index)
    columns["index1"], columns["index2"] = index[:, 0], index[:, 1]
    if names is not None:
        given = np.asarray(names, dtype=object)
        columns["mask1"], columns["mask2"] = given[index[:, 0]], given[index[:, 1]]
    if annotators is not None:
        given = np.asarray(annotators, dtype=object)
        columns["annotator1"], columns["annotator2"] = given[index[:, 0]], given[index[:, 1]]
    names_out = label_columns(metrics, resolve_labels(labels, stack))
    for m, column in enumerate(names_out):
        columns[column] = values[:, m]
    pairs = pd.DataFrame(columns)
    if naming == "release":
        pairs = pairs.rename(columns=release_name)
    return pairs, lonely


def release_name(column):
    """The IMA++ release's name of a pairs-table column, per-class columns included."""
    head, sep, tail = column.rpartition("_label")
    if sep and tail.isdigit() and head in RELEASE_NAMES:
        return f"{RELEASE_NAMES[head]}_label{tail}"
    return RELEASE_NAMES.get(column, column)


def summarise(values, statistics, ddof):
    """Statistics over the pairs (rows) of ``values`` (n_pairs, n_metrics).

    Returns an array (n_metrics, n_statistics); see :func:`summarise_groups`,
    of which this is the one-group case.
    """
    values = np.asarray(values, dtype=np.float64)
    return summarise_groups(values, np.array([0, len(values)]), statistics, ddof)[0]


def summarise_groups(values, bounds, statistics, ddof=1):
    """Statistics over consecutive groups of rows of ``values`` (n_pairs, n_metrics).

    Group ``g`` is rows ``bounds[g]:bounds[g + 1]``. Returns an array
    (n_groups, n_metrics, n_statistics). NaN propagates: a metric with a NaN
    pair in a group gets NaN statistics there rather than a summary of the
    other pairs. ``std`` with ``n - ddof <= 0`` is NaN (one pair, sample std);
    an empty group gets NaN everywhere. Vectorised over groups, so summarising
    the 2,394 images of IMA++ costs milliseconds.
    """
    values = np.asarray(values, dtype=np.float64)
    bounds = np.asarray(bounds, dtype=np.int64)
    counts = np.diff(bounds)
    n_groups, m = len(counts), values.shape[1]
    out = np.full((n_groups, m, len(statistics)), np.nan)
    full = np.flatnonzero(counts > 0)
    if full.size == 0:
        return out
    sizes = counts[full][:, None]
    # Empty groups hold no rows, so the rows of the others are contiguous.
    data = values[bounds[0] : bounds[-1]]
    first = bounds[:-1][full] - bounds[0]
    group_of_row = np.repeat(np.arange(full.size), counts[full])
    mean = np.add.reduceat(data, first, axis=0) / sizes
    for s, stat in enumerate(statistics):
        if stat == "mean":
            res = mean
        elif stat == "std":
            squares = np.add.reduceat((data - mean[group_of_row]) ** 2, first, axis=0)
            dof = sizes - ddof
            res = np.where(dof > 0, np.sqrt(squares / np.maximum(dof, 1)), np.nan)
        elif stat == "min":
            res = np.minimum.reduceat(data, first, axis=0)
        elif stat == "max":
            res = np.maximum.reduceat(data, first, axis=0)
        elif stat == "median":
            res = np.empty((full.size, m))
            for c in range(m):
                ordered = data[np.lexsort((data[:, c], group_of_row)), c]
                low = first + (sizes[:, 0] - 1) // 2
                high = first + sizes[:, 0] // 2
                res[:, c] = (ordered[low] + ordered[high]) / 2
        else:  # pragma: no cover - names are validated by check_statistics
            raise ValueError(f"unknown statistic {stat!r}")
        out[full, :, s] = res
    has_nan = np.logical_or.reduceat(np.isnan(data), first, axis=0)
    out[full] = np.where(has_nan[:, :, None], np.nan, out[full])
    return out
