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

from .._masks import check_mask_stack

__all__ = ["StapleResult", "UncertaintyMap", "majority_vote", "staple", "uncertainty_map"]


def majority_vote(masks, *, ties="foreground"):
    """Pixel-wise majority vote of binary masks.

    Parameters
    ----------
    masks : array-like of shape (k, H, W) or (k, D, H, W)..., or sequence of k arrays or paths
        The masks of one image or volume (bool, 0/1 or 0/255, or mask files:
        PNG, ``.npy``, NIfTI).
    ties : {"foreground", "background"}, default="foreground"
        Label of a pixel with as many votes for as against (possible when
        ``k`` is even). ``"foreground"`` is the IMA++ release's choice
        (SimpleITK ``LabelVotingImageFilter`` with undecided pixels set to 1).

    Returns
    -------
    consensus : ndarray of bool, shape (H, W) or (D, H, W)...
        True where more than half of the masks are foreground (with
        ``ties="foreground"``, also where exactly half are).

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
    """
    if ties not in ("foreground", "background"):
        raise ValueError(f"ties must be 'foreground' or 'background', got {ties!r}")
    stack = check_mask_stack(masks, min_masks=1)
    votes = 2 * stack.sum(axis=0, dtype=np.int64)
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


def staple(masks, *, confidence_weight=1.0, max_iter=100_000, tol=1e-7, threshold=0.5):
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
    tol : float, default=1e-7
        Convergence threshold on the change of every sensitivity and
        specificity between two iterations (SimpleITK's, which makes the
        results equal to SimpleITK's to about 1e-12).
    threshold : float, default=0.5
        ``mask = probabilities > threshold`` (the IMA++ release thresholds at 0.5).

    Returns
    -------
    result : StapleResult
        Named tuple ``(probabilities, mask, sensitivity, specificity, prior,
        n_iter)``.

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
    for name, value, low, high in (
        ("threshold", threshold, 0.0, 1.0),
        ("tol", tol, 0.0, np.inf),
    ):
        if not (low <= value <= high):
            raise ValueError(f"{name} must be in [{low}, {high}], got {value!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    stack = check_mask_stack(masks, min_masks=1)
    k = stack.shape[0]
    shape = stack.shape[1:]
    mean = stack.mean(axis=0, dtype=np.float64)
    prior = float(mean.mean()) * float(confidence_weight)
    if not (mean.any() and (mean < 1).any()):
        full = bool(mean.all())
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
    p = np.full(k, np.nan)
    q = np.full(k, np.nan)
    n_iter = 0
    converged = False
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
            converged = True
            break
    if not converged:
        warnings.warn(
            f"STAPLE did not converge in max_iter={max_iter} iterations; raise max_iter or tol",
            ConvergenceWarning,
            stacklevel=2,
        )

    if present is not None:
        lookup = np.zeros(1 << k)
        lookup[present] = weights
        probabilities = lookup[codes].reshape(shape)
    else:
        probabilities = weights[codes].reshape(shape)
    return StapleResult(probabilities, probabilities > threshold, p, q, prior, n_iter)


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
    (statistic ``"entropy"``: its mean over the union of the masks).

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
    mean = stack.mean(axis=0, dtype=np.float64)
    return UncertaintyMap(mean, _binary_entropy(mean, base))


def _binary_entropy(p, base=2.0):
    """Binary entropy of probabilities ``p`` (0 at 0 and 1), in units of ``log(base)``."""
    out = np.zeros_like(p, dtype=np.float64)
    inside = (p > 0) & (p < 1)
    q = p[inside]
    out[inside] = -(q * np.log(q) + (1.0 - q) * np.log1p(-q)) / np.log(base)
    return out
