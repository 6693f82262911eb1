"""A segmentation model's masks scored against several annotators.

"Is my model's mask within human variability?": :func:`score_segmentation`
scores a predicted mask against each annotator's mask and against their
consensus, and gives where the model's agreement falls among the annotators'
own pairwise agreement on that image (a percentile).
:func:`threshold_jaccard` is the ISIC 2018 challenge's score, and
:func:`make_segmentation_scorer` turns any of these into a scikit-learn scorer.
"""

import itertools
import math
from typing import NamedTuple

import numpy as np
import pandas as pd

from ._engine import check_labels, check_metrics, check_tolerance
from ._metrics import check_options, check_pair, jaccard
from ._multirater import _annotator_positions, _check_stack, _consensus_mask, _Masks
from ._naming import CONSENSUS_CODES, DISTANCE_METRICS, METRICS

__all__ = [
    "SCORE_METRICS",
    "SegmentationScore",
    "make_segmentation_scorer",
    "score_segmentation",
    "summarize_scores",
    "threshold_jaccard",
]

#: Default metrics of :func:`score_segmentation`.
SCORE_METRICS = ("dice", "jaccard", "threshold_jaccard", "hd95")

# Metrics where a smaller value means better agreement.
_LOWER_IS_BETTER = {m for m in METRICS if m.removesuffix("_normalized") in DISTANCE_METRICS}
_REFERENCES = ("annotators", "consensus", "percentile")


def _check_threshold(threshold):
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)):
        raise ValueError(f"threshold must be a number in [0, 1], got {threshold!r}")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be a number in [0, 1], got {threshold!r}")
    return float(threshold)


def _thresholded(values, threshold):
    """Jaccard values below ``threshold`` set to 0 (NaN stays NaN)."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(values < threshold, 0.0, values)


def threshold_jaccard(mask1, mask2, threshold=0.65):
    """Thresholded Jaccard index, the ISIC 2018 lesion segmentation challenge score.

    The Jaccard index (IoU) of the two masks, set to 0 when it is below
    ``threshold``: a segmentation that misses the lesion's extent scores
    nothing rather than partial credit. The challenge's score is its mean over
    images.

    Parameters
    ----------
    mask1, mask2 : array-like of the same shape
        Boolean masks, or 0/1 or 0/255 valued.
    threshold : float, default=0.65
        Jaccard values below it count as 0 (the challenge's 0.65).

    Returns
    -------
    score : float
        ``J`` if ``J >= threshold`` else 0.0; 1.0 when both masks are empty.

    Raises
    ------
    ValueError
        If the shapes differ, a value is not binary, or ``threshold`` is not
        in [0, 1].

    See Also
    --------
    jaccard : the unthresholded index.
    score_segmentation : every metric against every annotator.

    Notes
    -----
    Codella et al., *Skin lesion analysis toward melanoma detection 2018*
    (arXiv:1902.03368), section 3.1.

    Examples
    --------
    >>> import numpy as np
    >>> from skiaa.agreement import threshold_jaccard
    >>> a = np.zeros((10, 10), bool); a[:6] = True
    >>> b = np.zeros((10, 10), bool); b[:5] = True
    >>> round(threshold_jaccard(a, b), 4), threshold_jaccard(a, b, threshold=0.9)
    (0.8333, 0.0)
    """
    threshold = _check_threshold(threshold)
    a, b = check_pair(mask1, mask2)
    return float(_thresholded(jaccard(a, b), threshold))


def _check_score_metrics(metrics):
    """Validate metric names; return (requested names, pairwise metrics to compute)."""
    if metrics is None:
        metrics = SCORE_METRICS
    if isinstance(metrics, str):
        metrics = [metrics]
    metrics = list(metrics)
    if not metrics:
        raise ValueError("metrics must name at least one metric")
    plain = [m for m in metrics if m != "threshold_jaccard"]
    names = check_metrics(plain) if plain else []
    out = []
    for m in metrics:
        name = m if m == "threshold_jaccard" else names[plain.index(m)]
        if name not in out:
            out.append(name)
    base = [m for m in out if m != "threshold_jaccard"]
    if "threshold_jaccard" in out and "jaccard" not in base:
        base.append("jaccard")
    return out, base


def _percentile(model, human, lower_is_better):
    """Percent of ``human`` values agreeing less than ``model`` (ties count half)."""
    if math.isnan(model) or np.isnan(human).any():
        return math.nan
    # A mean of k values can differ from an equal pair value in the last bit,
    # depending on the order of the annotators: compare with a relative tolerance.
    ties = np.isclose(human, model, rtol=1e-9, atol=1e-12)
    worse = ~ties & (human > model if lower_is_better else human < model)
    return float(100.0 * (worse.sum() + 0.5 * ties.sum()) / human.size)


class SegmentationScore(NamedTuple):
    """Result of :func:`score_segmentation`.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per metric: ``image_id`` (when given), ``metric``,
        ``model_mean``, ``model_min``, ``model_max`` (the prediction against
        each annotator), ``model_consensus`` (against the consensus),
        ``human_mean``, ``human_min``, ``human_max`` (the annotators' pairwise
        values), ``percentile`` and ``n_annotators``.
    annotators : pandas.DataFrame
        One row per annotator mask: ``image_id`` (when given), ``index``,
        ``annotator`` (when given), then the prediction's value of each metric
        against that mask.
    """

    summary: pd.DataFrame
    annotators: pd.DataFrame


def score_segmentation(
    pred,
    masks,
    metrics=None,
    *,
    annotators=None,
    consensus="staple",
    image_id=None,
    spacing=None,
    tolerance=2.0,
    threshold=0.65,
    hd_percentile="pooled",
    empty="nan",
    exclude=CONSENSUS_CODES,
):
    """Score one predicted mask against an image's annotators.

    For each metric: the prediction against each annotator's mask, against
    their consensus, and where the prediction's mean agreement falls among the
    annotators' own pairwise agreement on that image.

    Parameters
    ----------
    pred : array-like of shape (...)
        The predicted binary mask (bool, 0/1 or 0/255, or a mask file).
    masks : array-like of shape (k, ...), or sequence of k masks or paths
        The ``k >= 2`` annotators' masks of the same image, of ``pred``'s shape.
    metrics : str or list of str, default=None
        Names of :data:`skiaa.agreement.METRICS` (or the release's) and
        ``"threshold_jaccard"`` (see :func:`threshold_jaccard`). None means
        :data:`SCORE_METRICS`: ``dice``, ``jaccard``, ``threshold_jaccard``,
        ``hd95``.
    annotators : sequence of str, default=None
        One annotator code per mask, written in the ``annotators`` table.
    consensus : {"staple", "majority"}, default="staple"
        The consensus mask: :func:`skiaa.agreement.staple` (at 0.5) or
        :func:`skiaa.agreement.majority_vote`.
    image_id : str, default=None
        Written in an ``image_id`` column of both tables.
    spacing : float or sequence of float, default=None
        Pixel size along each axis; distances are then physical.
    tolerance : float, default=2.0
        Tolerance of ``surface_dice`` and ``boundary_f1``.
    threshold : float, default=0.65
        Threshold of ``threshold_jaccard``.
    hd_percentile : {"pooled", "max", "area_weighted"}, default="pooled"
        HD95 over both directed distance sets pooled (medpy, the IMA++ release)
        or the larger of the two directed 95th percentiles; see
        :func:`skiaa.agreement.hd95`.
    empty : {"nan", "worst"}, default="nan"
        Distances of a pair where exactly one mask is empty (an empty
        prediction, say): NaN (with an :class:`~skiaa.agreement.EmptyMaskWarning`)
        or the image diagonal (1.0 normalised, the release's worst case), which
        keeps such images in the means as the worst score.
    exclude : sequence of str, default=("ST", "MV")
        Annotator codes of consensus masks in ``masks`` (the release's STAPLE
        and majority vote), left out. Ignored without ``annotators``.

    Returns
    -------
    result : SegmentationScore
        Named tuple ``(summary, annotators)`` of two DataFrames.

    Raises
    ------
    ValueError
        If fewer than two annotator masks remain, a mask is invalid, the
        shapes differ, or a parameter is unknown.

    Warns
    -----
    EmptyMaskWarning
        When the prediction, an annotator's mask or the consensus is empty and
        the other of a pair is not (the pair's distances are NaN).

    See Also
    --------
    summarize_scores : the per-image summaries of many images in one table.
    make_segmentation_scorer : a scikit-learn scorer on these numbers.
    annotator_vs_consensus : each annotator against the others' consensus.

    Notes
    -----
    ``model_mean`` is the mean over the ``k`` annotator masks; the human
    reference is the ``k (k - 1) / 2`` pairwise values among the annotators
    (same-annotator pairs included, as in the IAA of the IMA++ release).
    ``percentile`` is the percentage of those pairs that agree *less* than the
    prediction agrees on average (ties, equal to 1e-9 relative, count half),
    whatever the metric's
    direction: 100 means the prediction agrees with the annotators better than
    any two of them agree with each other, 0 worse than any. With two
    annotators there is one pair, so it is 0, 50 or 100. NaN (an undefined
    distance) propagates to ``model_*``, ``human_*`` and ``percentile``.

    Examples
    --------
    >>> import numpy as np
    >>> from skiaa.agreement import score_segmentation
    >>> masks = np.zeros((3, 10, 10), bool)
    >>> masks[0, 2:7, 2:7] = masks[1, 2:8, 2:8] = masks[2, 3:7, 2:7] = True
    >>> pred = np.zeros((10, 10), bool); pred[2:7, 2:8] = True
    >>> result = score_segmentation(pred, masks, ["dice"])
    >>> result.summary[["metric", "model_mean", "human_mean", "percentile"]].round(3)
      metric  model_mean  human_mean  percentile
    0   dice       0.873       0.808      66.667
    """
    if consensus not in ("staple", "majority"):
        raise ValueError(f"consensus must be 'staple' or 'majority', got {consensus!r}")
    names, base = _check_score_metrics(metrics)
    tolerance = check_tolerance(tolerance)
    threshold = _check_threshold(threshold)
    what = None if image_id is None else f"image {image_id}"
    stack, _ = _check_stack(masks, what=what)
    k = stack.shape[0]
    codes = check_labels(annotators, k, "annotators")
    where = f"{what}: " if what is not None else ""
    keep = _annotator_positions(codes, k, exclude, where, "scoring against the annotators' range")
    pred_stack, _ = _check_stack([pred], what="pred" if what is None else f"{what}, pred")
    if pred_stack.shape[1:] != stack.shape[1:]:
        raise ValueError(
            f"{where}the prediction and the annotators' masks must have the same shape, "
            f"got {pred_stack.shape[1:]} and {stack.shape[1:]}"
        )
    annotator_masks = stack[keep]
    n = len(keep)
    prefix = f"{what}, " if what is not None else ""
    reference = _consensus_mask(annotator_masks, consensus)
    # Index 0 is the prediction, 1..n the annotators' masks, n + 1 the consensus;
    # each mask is packed and its border found once.
    all_masks = _Masks(
        [pred_stack[0], *annotator_masks, reference],
        base,
        spacing=spacing,
        tolerance=tolerance,
        hd_percentile=hd_percentile,
        empty=empty,
    )
    # Plain loops, not comprehensions: a comprehension is a frame of its own on
    # Python < 3.12, which would shift the warnings' stacklevel off the caller.
    model_rows, human_rows = [], []
    for j in range(n):
        model_rows.append(all_masks.values(0, 1 + j, f"{prefix}prediction and mask {keep[j]}: "))
    for i, j in itertools.combinations(range(n), 2):
        human_rows.append(
            all_masks.values(1 + i, 1 + j, f"{prefix}masks {keep[i]} and {keep[j]}: ")
        )
    model = pd.DataFrame(model_rows, columns=base)
    human = pd.DataFrame(human_rows, columns=base)
    against = pd.DataFrame(
        [all_masks.values(0, n + 1, f"{prefix}prediction and the consensus: ")], columns=base
    )
    for table in (model, human, against):
        if "threshold_jaccard" in names:
            table["threshold_jaccard"] = _thresholded(table["jaccard"], threshold)

    rows = []
    for metric in names:
        m = model[metric].to_numpy()
        h = human[metric].to_numpy()
        mean = float(m.mean())
        row = {} if image_id is None else {"image_id": image_id}
        row.update(
            metric=metric,
            model_mean=mean,
            model_min=float(m.min()),
            model_max=float(m.max()),
            model_consensus=float(against[metric].iloc[0]),
            human_mean=float(h.mean()),
            human_min=float(h.min()),
            human_max=float(h.max()),
            percentile=_percentile(mean, h, metric in _LOWER_IS_BETTER),
            n_annotators=n,
        )
        rows.append(row)
    summary = pd.DataFrame(rows)

    per_mask = {} if image_id is None else {"image_id": [image_id] * n}
    per_mask["index"] = keep
    if codes is not None:
        per_mask["annotator"] = [codes[j] for j in keep]
    per_annotator = pd.DataFrame(per_mask)
    for metric in names:
        per_annotator[metric] = model[metric].to_numpy()
    return SegmentationScore(summary, per_annotator)


def summarize_scores(scores):
    """Summarise per-image scores of many images, one row per metric.

    Parameters
    ----------
    scores : pandas.DataFrame
        The ``summary`` tables of :func:`score_segmentation` for several
        images, concatenated (the per-image table ``skiaa score`` writes).

    Returns
    -------
    summary : pandas.DataFrame
        Indexed by ``metric``: ``n_images``; the means over images of
        ``model_mean``, ``model_consensus`` and ``human_mean``; the median
        ``percentile``; the fractions of images where the model agrees less
        than the annotators' worst pair (``worse_than_humans``), within their
        range (``within_human_range``, ``human_min <= model_mean <=
        human_max``) or more than their best pair (``better_than_humans``),
        in each metric's direction; and ``n_undefined``, the images whose
        ``model_mean`` or ``human_mean`` is NaN. Means are not taken over the
        other images when one is NaN: they are NaN, and ``n_undefined`` says
        why.

    Raises
    ------
    ValueError
        If a column of :class:`SegmentationScore` ``summary`` is missing.

    See Also
    --------
    score_segmentation : the per-image scores.

    Notes
    -----
    The ISIC 2018 challenge score against the consensus is the
    ``model_consensus`` of the ``threshold_jaccard`` row.

    Examples
    --------
    >>> import pandas as pd
    >>> from skiaa.agreement import summarize_scores
    >>> scores = pd.DataFrame({
    ...     "image_id": ["a", "b"], "metric": ["dice", "dice"],
    ...     "model_mean": [0.8, 0.9], "model_consensus": [0.85, 0.95],
    ...     "human_mean": [0.82, 0.88], "human_min": [0.7, 0.8],
    ...     "human_max": [0.9, 0.85], "percentile": [40.0, 100.0]})
    >>> summary = summarize_scores(scores)
    >>> summary.loc["dice", ["n_images", "model_mean", "within_human_range"]].round(3).tolist()
    [2.0, 0.85, 0.5]
    """
    needed = ["metric", "model_mean", "model_consensus", "human_mean", "human_min"]
    needed += ["human_max", "percentile"]
    missing = [c for c in needed if c not in scores.columns]
    if missing:
        raise ValueError(f"scores lacks the columns {', '.join(missing)}")
    rows = {}
    for metric, part in scores.groupby("metric", sort=False):
        model = part["model_mean"]
        lo, hi = part["human_min"], part["human_max"]
        defined = bool(part[["model_mean", "human_min", "human_max"]].notna().all().all())
        better, worse = (
            (model < lo, model > hi)
            if metric in _LOWER_IS_BETTER
            else (
                model > hi,
                model < lo,
            )
        )
        share = (lambda flags: float(flags.mean())) if defined else (lambda flags: math.nan)
        rows[metric] = {
            "n_images": len(part),
            "model_mean": model.mean(skipna=False),
            "model_consensus": part["model_consensus"].mean(skipna=False),
            "human_mean": part["human_mean"].mean(skipna=False),
            "percentile_median": part["percentile"].median(skipna=False),
            "worse_than_humans": share(worse),
            "within_human_range": share(~(better | worse)),
            "better_than_humans": share(better),
            "n_undefined": int(part[["model_mean", "human_mean"]].isna().any(axis=1).sum()),
        }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "metric"
    return out


def _mean_score(y_true, y_pred, *, metric, reference, consensus, threshold, hd_percentile, empty):
    """Mean over images of one number of :func:`score_segmentation`."""
    y_true = list(y_true)
    y_pred = list(y_pred)
    if len(y_true) != len(y_pred):
        raise ValueError(
            f"y_true holds {len(y_true)} images' masks but y_pred {len(y_pred)} predictions"
        )
    column = {"annotators": "model_mean", "consensus": "model_consensus"}.get(
        reference, "percentile"
    )
    values = [
        score_segmentation(
            pred,
            masks,
            [metric],
            consensus=consensus,
            image_id=i,
            threshold=threshold,
            hd_percentile=hd_percentile,
            empty=empty,
        )
        .summary[column]
        .iloc[0]
        for i, (pred, masks) in enumerate(zip(y_pred, y_true))
    ]
    return float(np.mean(values))


def make_segmentation_scorer(
    metric="dice",
    *,
    reference="annotators",
    consensus="staple",
    threshold=0.65,
    hd_percentile="pooled",
    empty="nan",
):
    """A scikit-learn scorer of predicted masks against several annotators.

    For a segmentation estimator whose ``predict(X)`` returns one mask per
    image and whose ``y`` holds each image's stack of annotator masks, the
    scorer gives the mean over images of one number of
    :func:`score_segmentation`, for ``cross_validate``, ``GridSearchCV`` and
    the like.

    Parameters
    ----------
    metric : str, default="dice"
        A name of :data:`skiaa.agreement.METRICS` or ``"threshold_jaccard"``.
    reference : {"annotators", "consensus", "percentile"}, default="annotators"
        What is averaged over images: the prediction's mean agreement with the
        annotators, its agreement with the consensus, or its percentile among
        the annotators' pairwise agreement.
    consensus : {"staple", "majority"}, default="staple"
        The consensus mask, when ``reference="consensus"``.
    threshold : float, default=0.65
        Threshold of ``threshold_jaccard``.
    hd_percentile : {"pooled", "max", "area_weighted"}, default="pooled"
        HD95 definition; see :func:`skiaa.agreement.hd95`.
    empty : {"nan", "worst"}, default="nan"
        Distances when a prediction or mask is empty and the other is not: NaN
        (then the score is NaN, which scikit-learn's searches report) or the
        image diagonal (the worst case, counted in the mean).

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)``, from :func:`sklearn.metrics.make_scorer`;
        distances are negated (``greater_is_better=False``), as for
        scikit-learn's error metrics, except with ``reference="percentile"``.

    Raises
    ------
    ValueError
        If a parameter is unknown.

    See Also
    --------
    score_segmentation : all the numbers for one image.

    Examples
    --------
    >>> from skiaa.agreement import make_segmentation_scorer
    >>> scorer = make_segmentation_scorer("threshold_jaccard", reference="consensus")
    """
    from sklearn.metrics import make_scorer

    names, _ = _check_score_metrics([metric])
    if reference not in _REFERENCES:
        raise ValueError(f"reference must be one of {', '.join(_REFERENCES)}, got {reference!r}")
    if consensus not in ("staple", "majority"):
        raise ValueError(f"consensus must be 'staple' or 'majority', got {consensus!r}")
    threshold = _check_threshold(threshold)
    check_options(hd_percentile, empty)
    greater = reference == "percentile" or names[0] not in _LOWER_IS_BETTER
    return make_scorer(
        _mean_score,
        greater_is_better=greater,
        metric=names[0],
        reference=reference,
        consensus=consensus,
        threshold=threshold,
        hd_percentile=hd_percentile,
        empty=empty,
    )
