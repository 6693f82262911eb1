"""Consensus of several annotators' binary masks: majority vote, STAPLE, uncertainty.

The IMA++ release ships both beside the annotators' masks (``_MV_MV_MV_MV.png``
and ``_ST_ST_ST_ST.png``), made with SimpleITK's ``LabelVotingImageFilter``
(undecided pixels set to foreground) and ``STAPLEImageFilter`` thresholded at
0.5. These functions give the same masks without SimpleITK.
"""

import warnings
from typing import NamedTuple

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .._masks import check_mask_stack, load_mask_stack
from ._metrics import _class_index, check_labels_option, resolve_labels

__all__ = [
    "MultiLabelStapleResult",
    "StapleResult",
    "UncertaintyMap",
    "majority_vote",
    "staple",
    "uncertainty_map",
]


def _label_classes(masks, labels, undecided):
    """A label stack as class positions: ``(classes (k, ...), values, undecided value)``.

    Class 0 is the background (0, and every value not in ``labels``), then the
    label values in increasing order, as SimpleITK orders labels; the value
    written for undecided pixels defaults to SimpleITK's, the largest value + 1.
    """
    labels = check_labels_option(labels)
    stack, _ = load_mask_stack(masks, min_masks=1, labels=True)
    labels = resolve_labels(labels, stack, allow_empty=True)
    values = np.array(sorted({0, *(int(v) for v in labels)}), dtype=np.int64)
    classes = _class_index(stack, values)
    classes[classes == len(values)] = 0  # values nobody named: background
    if undecided is None:
        undecided = int(values[-1]) + 1
    elif isinstance(undecided, bool) or not isinstance(undecided, (int, np.integer)):
        raise ValueError(f"undecided must be an integer label value, got {undecided!r}")
    return classes, values, int(undecided)


def _warn_not_converged(max_iter, stacklevel):
    warnings.warn(
        f"STAPLE did not converge in max_iter={max_iter} iterations; raise max_iter or tol",
        ConvergenceWarning,
        stacklevel=stacklevel,
    )


def _winner(scores, undecided):
    """Index of the largest score along axis 0; ``undecided`` where the largest is shared
    (or every score is 0), as SimpleITK's voting and STAPLE filters decide."""
    best = scores.max(axis=0)
    winner = scores.argmax(axis=0)
    shared = (scores == best).sum(axis=0) > 1
    return np.where(shared | ~(best > 0), undecided, winner)


def majority_vote(masks, *, ties="foreground", labels=None, undecided=None):
    """Pixel-wise majority vote of binary masks, or of label maps.

    Parameters
    ----------
    masks : array-like of shape (k, H, W) or (k, D, H, W)..., or sequence of k arrays or paths
        The masks of one image or volume (bool, 0/1 or 0/255, or mask files:
        PNG, ``.npy``, NIfTI).
    ties : {"foreground", "background"}, default="foreground"
        Label of a pixel with as many votes for as against (possible when
        ``k`` is even). ``"foreground"`` is the IMA++ release's choice
        (SimpleITK ``LabelVotingImageFilter`` with undecided pixels set to 1).
        Binary masks only.
    labels : sequence of int or "all", default=None
        The masks are label maps (one integer class per pixel) and these are
        the classes voted on, beside the background (0, and every value not
        listed); ``"all"``: every non-zero value found. Each pixel gets the
        value with the most votes, as SimpleITK's ``LabelVotingImageFilter``
        gives it.
    undecided : int, default=None
        With ``labels``, the value of a pixel where several values share the
        most votes; None: SimpleITK's default, the largest label + 1.

    Returns
    -------
    consensus : ndarray of bool, shape (H, W) or (D, H, W)...
        True where more than half of the masks are foreground (with
        ``ties="foreground"``, also where exactly half are). With ``labels``,
        the label map (integers) of the winning values.

    Raises
    ------
    ValueError
        If the masks are invalid (see :func:`skiaa._masks.check_mask_stack`) or
        ``ties`` is unknown.

    See Also
    --------
    staple : consensus weighted by each annotator's estimated reliability.

    Examples
    --------
    >>> import numpy as np
    >>> from skiaa.agreement import majority_vote
    >>> masks = np.array([[[1, 1, 0, 0]], [[1, 0, 1, 0]]])
    >>> majority_vote(masks).astype(int)
    array([[1, 1, 1, 0]])
    >>> majority_vote(masks, ties="background").astype(int)
    array([[1, 0, 0, 0]])
    >>> maps = np.array([[[1, 2, 2, 0]], [[1, 2, 0, 3]], [[1, 1, 0, 3]]])
    >>> majority_vote(maps, labels="all")
    array([[1, 2, 0, 3]])
    """
    if ties not in ("foreground", "background"):
        raise ValueError(f"ties must be 'foreground' or 'background', got {ties!r}")
    if labels is not None:
        if ties != "foreground":
            raise ValueError(
                "ties applies to binary masks; with labels a tied pixel gets `undecided`"
            )
        classes, values, undecided = _label_classes(masks, labels, undecided)
        votes = np.stack([(classes == c).sum(axis=0) for c in range(len(values))])
        lookup = np.append(values, undecided)
        return lookup[_winner(votes, len(values))]
    stack = check_mask_stack(masks, min_masks=1)
    votes = 2 * stack.sum(axis=0)
    k = stack.shape[0]
    return votes >= k if ties == "foreground" else votes > k


class StapleResult(NamedTuple):
    """Result of :func:`staple`.

    Attributes
    ----------
    probabilities : ndarray of float64, shape (H, W) or (D, H, W)...
        Posterior probability that each pixel is foreground.
    mask : ndarray of bool, shape (H, W) or (D, H, W)...
        ``probabilities > threshold``: the consensus mask.
    sensitivity : ndarray of float64, shape (k,)
        Each annotator's estimated true-positive fraction (``p`` in Warfield et
        al.); NaN when no pixel can be foreground (every mask empty).
    specificity : ndarray of float64, shape (k,)
        Each annotator's estimated true-negative fraction (``q``); NaN when no
        pixel can be background (every mask full).
    prior : float
        Prior foreground probability used (mean mask fraction times
        ``confidence_weight``).
    n_iter : int
        EM iterations run (SimpleITK's ``GetElapsedIterations()`` counts one
        fewer: it does not count the last, converged one).
    """

    probabilities: np.ndarray
    mask: np.ndarray
    sensitivity: np.ndarray
    specificity: np.ndarray
    prior: float
    n_iter: int


def _pattern_counts(stack):
    """Distinct per-pixel vote patterns (m, k) and how many pixels show each (m,).

    EM for STAPLE only sees a pixel through its column of votes, so it can run
    on the (at most 2**k) distinct patterns weighted by their counts instead of
    on millions of pixels: the same sums, in a fraction of the time.
    """
    k = stack.shape[0]
    flat = stack.reshape(k, -1)
    if k <= 20:
        weights = (np.int64(1) << np.arange(k, dtype=np.int64))[:, None]
        codes = (flat * weights).sum(axis=0)
        counts = np.bincount(codes, minlength=1 << k)
        present = np.flatnonzero(counts)
        patterns = ((present[:, None] >> np.arange(k)) & 1).astype(bool)
        return patterns, counts[present].astype(np.float64), codes, present
    patterns, inverse, counts = np.unique(flat.T, axis=0, return_inverse=True, return_counts=True)
    return patterns.astype(bool), counts.astype(np.float64), inverse.reshape(-1), None


def staple(
    masks,
    *,
    confidence_weight=1.0,
    max_iter=100_000,
    tol=None,
    threshold=0.5,
    labels=None,
    undecided=None,
):
    """STAPLE consensus: EM estimate of the true mask and each annotator's quality.

    Simultaneous Truth And Performance Level Estimation (Warfield, Zou & Wells,
    IEEE TMI 2004) for binary masks of any dimension (2-D images, 3-D volumes),
    following SimpleITK's ``STAPLEImageFilter``:
    the posterior starts as the mean of the masks, the prior foreground
    probability is the mean mask fraction times ``confidence_weight``, then the
    M-step (sensitivities and specificities) and E-step (posterior) alternate
    until no sensitivity or specificity moves by more than ``tol``.

    Parameters
    ----------
    masks : array-like of shape (k, H, W) or (k, D, H, W)..., or sequence of k arrays or paths
        The masks of one image or volume (bool, 0/1 or 0/255, or mask files:
        PNG, ``.npy``, NIfTI).
    confidence_weight : float, default=1.0
        Scales the prior foreground probability (SimpleITK's
        ``ConfidenceWeight``); the product must stay in (0, 1).
    max_iter : int, default=100000
        Most EM iterations; a :class:`~sklearn.exceptions.ConvergenceWarning`
        says when they run out (SimpleITK's default is unbounded). Masks of one
        lesion converge in tens to hundreds; noise-like stacks can take far more.
    tol : float, default=None
        Convergence threshold on the change of every sensitivity and
        specificity (with ``labels``: every confusion-matrix entry) between
        two iterations. None: SimpleITK's, 1e-7 for binary masks (which makes
        the results equal to SimpleITK's to about 1e-12) and 1e-5 with labels
        (``MultiLabelSTAPLE``'s ``TerminationUpdateThreshold``).
    threshold : float, default=0.5
        ``mask = probabilities > threshold`` (the IMA++ release thresholds at
        0.5). Binary masks only, as ``confidence_weight``.
    labels : sequence of int or "all", default=None
        The masks are label maps (one integer class per pixel): run the
        multi-label STAPLE of Rohlfing et al. (2004) as SimpleITK's
        ``MultiLabelSTAPLE`` does, over the background (0, and every value
        not listed) and these class values (``"all"``: every non-zero value
        found). See Notes.
    undecided : int, default=None
        With ``labels``, the value of a pixel where classes tie; None:
        SimpleITK's default, the largest label + 1.

    Returns
    -------
    result : StapleResult or MultiLabelStapleResult
        Named tuple ``(probabilities, mask, sensitivity, specificity, prior,
        n_iter)``; with ``labels``, ``(probabilities, mask, confusion, prior,
        values, n_iter)`` (:class:`MultiLabelStapleResult`).

    Raises
    ------
    ValueError
        If the masks are invalid or a parameter is out of range.

    See Also
    --------
    majority_vote : the unweighted consensus.

    Notes
    -----
    Degenerate stacks, where SimpleITK returns NaN everywhere: when every mask
    is empty the probabilities are 0 (sensitivity NaN, specificity 1); when
    every mask is full they are 1 (sensitivity 1, specificity NaN).

    A vote pattern that both hypotheses give probability 0 (possible once an
    annotator's estimated sensitivity is 0 or specificity is 1) gets the prior
    as its posterior, where SimpleITK's arithmetic gives NaN.

    The EM runs on the distinct columns of votes (at most ``2**k``) weighted
    by their pixel counts, which gives the same sums as a pixel-wise loop.

    With ``labels`` every step is SimpleITK's ``MultiLabelSTAPLEImageFilter``:
    priors are the labels' frequencies over all masks; each annotator's
    confusion matrix starts from the majority vote (a tied vote counts, as in
    ITK's indexing, in the next row's background column), normalised per
    annotator label; the E and M steps alternate until no entry changes by
    ``tol`` or more; a pixel takes the class of largest posterior weight, and
    ``undecided`` where the largest weight is shared or zero. The label map
    equals ``SimpleITK.MultiLabelSTAPLE`` (tested).

    Examples
    --------
    >>> import numpy as np
    >>> from skiaa.agreement import staple
    >>> masks = np.zeros((3, 4, 6), bool)
    >>> masks[:, 1:3, 1:4] = True
    >>> masks[2, 1:3, 4] = True  # the third annotator draws one column wider
    >>> result = staple(masks)
    >>> result.mask.astype(int)
    array([[0, 0, 0, 0, 0, 0],
           [0, 1, 1, 1, 0, 0],
           [0, 1, 1, 1, 0, 0],
           [0, 0, 0, 0, 0, 0]])
    >>> result.sensitivity.round(3), result.specificity.round(3)
    (array([1., 1., 1.]), array([1.   , 1.   , 0.889]))
    """
    if tol is None:
        tol = 1e-7 if labels is None else 1e-5
    for name, value, low, high in (
        ("threshold", threshold, 0.0, 1.0),
        ("tol", tol, 0.0, np.inf),
    ):
        if not (low <= value <= high):
            raise ValueError(f"{name} must be in [{low}, {high}], got {value!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    if labels is not None:
        if confidence_weight != 1.0 or threshold != 0.5:
            raise ValueError("confidence_weight and threshold apply to binary masks, not labels")
        return _multilabel_staple(*_label_classes(masks, labels, undecided), max_iter, tol)
    stack = check_mask_stack(masks, min_masks=1)
    k = stack.shape[0]
    shape = stack.shape[1:]
    share = float(stack.mean())  # the fraction of all the masks' pixels marked
    prior = share * float(confidence_weight)
    if share in (0.0, 1.0):  # no pixel marked, or every pixel by all: nothing to estimate
        full = share == 1.0
        probabilities = np.full(shape, 1.0 if full else 0.0)
        sensitivity = np.full(k, 1.0 if full else np.nan)
        specificity = np.full(k, np.nan if full else 1.0)
        return StapleResult(
            probabilities, probabilities > threshold, sensitivity, specificity, prior, 0
        )
    if not 0.0 < prior < 1.0:
        raise ValueError(
            f"confidence_weight={confidence_weight!r} makes the prior foreground probability "
            f"{prior!r}, outside (0, 1)"
        )

    patterns, counts, codes, present = _pattern_counts(stack)
    votes = patterns.astype(np.float64)  # (m, k)
    weights = votes.mean(axis=1)  # initial posterior: the mean of the masks
    p = q = np.full(k, np.nan)  # unknown before the first M-step: no early stop
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported
        last_p, last_q = p, q
        # M-step: sensitivity p_j = sum(W D_j) / sum(W), specificity alike on background.
        fg = counts * weights
        bg = counts * (1.0 - weights)
        # Rounding can push a ratio of sums a hair past 1; clip so 1 - p stays >= 0.
        p = np.clip((fg @ votes) / fg.sum(), 0.0, 1.0)
        q = np.clip((bg @ (1.0 - votes)) / bg.sum(), 0.0, 1.0)
        # E-step: posterior of foreground given each vote pattern.
        alpha = prior * np.prod(np.where(patterns, p, 1.0 - p), axis=1)
        beta = (1.0 - prior) * np.prod(np.where(patterns, 1.0 - q, q), axis=1)
        evidence = alpha + beta
        # A vote pattern impossible under both hypotheses (an annotator with
        # sensitivity 0 voting foreground beside one with specificity 1 doing the
        # same) has no posterior; SimpleITK returns NaN there, which then spreads
        # to every estimate. Such pixels keep the prior instead.
        weights = np.divide(alpha, evidence, out=np.full_like(alpha, prior), where=evidence > 0)
        if np.all(np.abs(p - last_p) <= tol) and np.all(np.abs(q - last_q) <= tol):
            break
    else:
        _warn_not_converged(max_iter, stacklevel=3)

    if present is not None:
        lookup = np.zeros(1 << k)
        lookup[present] = weights
        probabilities = lookup[codes].reshape(shape)
    else:
        probabilities = weights[codes].reshape(shape)
    return StapleResult(probabilities, probabilities > threshold, p, q, prior, n_iter)


class MultiLabelStapleResult(NamedTuple):
    """Result of :func:`staple` on label maps (``labels=...``).

    Attributes
    ----------
    probabilities : ndarray of float64, shape (n_classes, H, W) or (n_classes, D, H, W)...
        Posterior probability of each class at each pixel, classes in the
        order of ``values``.
    mask : ndarray of int64, shape (H, W) or (D, H, W)...
        The consensus label map: the value of the class of largest posterior,
        ``undecided`` where classes tie.
    confusion : ndarray of float64, shape (k, n_classes + 1, n_classes)
        Each annotator's estimated confusion matrix: row = the class the
        annotator drew (the last row is never drawn), column = the true
        class; columns sum to 1.
    prior : ndarray of float64, shape (n_classes,)
        Prior probability of each class (its frequency over all masks).
    values : ndarray of int64, shape (n_classes,)
        The label value of each class: 0 (background), then the labels.
    n_iter : int
        EM iterations run.
    """

    probabilities: np.ndarray
    mask: np.ndarray
    confusion: np.ndarray
    prior: np.ndarray
    values: np.ndarray
    n_iter: int


def _multilabel_staple(classes, values, undecided, max_iter, tol):
    """SimpleITK's multi-label STAPLE on class positions (k, ...), on distinct vote patterns."""
    k = classes.shape[0]
    shape = classes.shape[1:]
    n = len(values)
    flat = classes.reshape(k, -1).astype(np.int64)
    if n**k < 2**62:
        codes = (flat * (n ** np.arange(k, dtype=np.int64))[:, None]).sum(axis=0)
        present, inverse, counts = np.unique(codes, return_inverse=True, return_counts=True)
        patterns = (present[:, None] // (n ** np.arange(k, dtype=np.int64))) % n  # (m, k)
    else:
        patterns, inverse, counts = np.unique(
            flat.T, axis=0, return_inverse=True, return_counts=True
        )
    inverse = inverse.reshape(-1)
    counts = counts.astype(np.float64)
    # Priors: each label's share of all the masks' pixels.
    prior = np.bincount(flat.reshape(-1), minlength=n).astype(np.float64)
    prior /= prior.sum()
    # Initial confusion matrices from the majority vote (undecided = n). ITK's
    # matrices have n + 1 rows and n columns stored row after row, so a vote of
    # n counted at (row j, column n) lands at (row j + 1, column 0): kept, as the
    # equality with SimpleITK requires.
    votes = np.stack([(patterns == c).sum(axis=1) for c in range(n)])  # (n, m)
    vote = _winner(votes.astype(np.float64), n)
    confusion = np.zeros((k, n + 1, n))
    for a in range(k):
        rows = patterns[:, a] + (vote == n)
        cols = np.where(vote == n, 0, vote)
        np.add.at(confusion[a], (rows, cols), counts)
        sums = confusion[a].sum(axis=1, keepdims=True)
        np.divide(confusion[a], sums, out=confusion[a], where=sums > 0)

    def posterior(confusion):
        weights = np.tile(prior, (patterns.shape[0], 1))
        for a in range(k):
            weights *= confusion[a][patterns[:, a]]
        return weights  # (m, n)

    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported
        weights = posterior(confusion)
        total = weights.sum(axis=1, keepdims=True)
        np.divide(weights, total, out=weights, where=total > 0)
        weights *= counts[:, None]
        updated = np.zeros_like(confusion)
        for a in range(k):
            np.add.at(updated[a], patterns[:, a], weights)
        sums = updated.sum(axis=1, keepdims=True)
        np.divide(updated, sums, out=updated, where=sums > 0)
        change = float(np.abs(updated - confusion).max())
        confusion = updated
        if change <= tol:  # as the binary STAPLE: tol=0 stops at an exact fixed point
            break
    else:
        _warn_not_converged(max_iter, stacklevel=4)
    weights = posterior(confusion)  # (m, n)
    winner = _winner(weights.T, n)
    total = weights.sum(axis=1, keepdims=True)
    probabilities = np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)
    lookup = np.append(values, undecided)
    mask = lookup[winner][inverse].reshape(shape)
    probabilities = np.moveaxis(probabilities[inverse], 1, 0).reshape((n, *shape))
    return MultiLabelStapleResult(probabilities, mask, confusion, prior, values, n_iter)


class UncertaintyMap(NamedTuple):
    """Result of :func:`uncertainty_map`.

    Attributes
    ----------
    mean : ndarray of float64, shape (H, W) or (D, H, W)
        Fraction of the annotators marking each pixel (the mean mask).
    entropy : ndarray of float64, shape (...)
        Binary entropy of ``mean`` at each pixel, in bits by default: 0 where
        the annotators agree, 1 (bits) where they split half and half.
    """

    mean: np.ndarray
    entropy: np.ndarray


def uncertainty_map(masks, *, base=2.0):
    """Pixel-wise uncertainty of the annotators: the mean mask and its entropy.

    Parameters
    ----------
    masks : array-like of shape (k, H, W) or (k, D, H, W), or sequence of k arrays or paths
        The masks of one image or volume (bool, 0/1 or 0/255, or mask files).
    base : float, default=2.0
        Base of the logarithm: 2 gives bits (at most 1 for a binary choice),
        ``math.e`` nats.

    Returns
    -------
    result : UncertaintyMap
        Named tuple ``(mean, entropy)`` of float arrays of one mask's shape.

    Raises
    ------
    ValueError
        If the masks are invalid or ``base`` is not a number above 1.

    See Also
    --------
    majority_vote : the mean mask thresholded at one half.
    skiaa.agreement.krippendorff_alpha : agreement over all pixels in one number.

    Notes
    -----
    With ``p`` the fraction of annotators marking a pixel, the entropy is
    ``-p log p - (1 - p) log(1 - p)`` with ``0 log 0 = 0``. It is the entropy
    of the vote of an annotator drawn at random, not a model's predictive
    uncertainty; :class:`skiaa.AgreementTransformer` summarises it per image
    (measure ``"union_entropy"``: its mean over the union of the masks).

    Examples
    --------
    >>> import numpy as np
    >>> from skiaa.agreement import uncertainty_map
    >>> masks = np.array([[[1, 1, 0, 0]], [[1, 0, 1, 0]]])
    >>> result = uncertainty_map(masks)
    >>> result.mean
    array([[1. , 0.5, 0.5, 0. ]])
    >>> result.entropy
    array([[0., 1., 1., 0.]])
    """
    if isinstance(base, bool) or not isinstance(base, (int, float, np.number)) or not base > 1:
        raise ValueError(f"base must be a number above 1, got {base!r}")
    stack = check_mask_stack(masks, min_masks=1)
    mean = stack.mean(axis=0)  # of a bool stack: float64
    return UncertaintyMap(mean, _binary_entropy(mean, base))


def _binary_entropy(p, base):
    """Binary entropy of probabilities ``p`` (0 at 0 and 1), in units of ``log(base)``."""
    out = np.zeros_like(p)
    inside = (p > 0) & (p < 1)
    q = p[inside]
    out[inside] = -(q * np.log(q) + (1.0 - q) * np.log1p(-q)) / np.log(base)
    return out
