"""Scikit-learn transformer from masks to per-image inter-annotator agreement."""

import numbers
import warnings

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions

from ._masks import check_mask_stack
from .agreement._engine import (
    check_metrics,
    check_spacing,
    check_statistics,
    check_tolerance,
    pairwise_values,
    summarise,
)
from .agreement._naming import STATISTICS
from .utils import progress

__all__ = ["AgreementTransformer"]


def _image_row(masks, index, metrics, statistics, tolerance, spacing, min_masks, few_masks, ddof):
    """Feature row of one image, and the warnings raised while computing it.

    The row holds the statistics of each metric over the image's pairs, then k.
    Warnings (an empty mask's NaN distances) are recorded and handed back, since
    those raised in a joblib worker process would otherwise never reach the user.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lowest = 0 if few_masks == "nan" else min_masks
        stack = check_mask_stack(masks, image_index=index, min_masks=lowest)
        k = stack.shape[0]
        n_features = len(metrics) * len(statistics)
        if k < min_masks:
            row = np.concatenate([np.full(n_features, np.nan), [k]])
        else:
            values = pairwise_values(
                stack, metrics, spacing=spacing, tolerance=tolerance, where=f"image {index}, "
            )
            row = np.concatenate([summarise(values, statistics, ddof).reshape(-1), [k]])
    return row, [(w.message, w.category) for w in caught]


class AgreementTransformer(TransformerMixin, BaseEstimator):
    """Per-image inter-annotator agreement from each image's stack of masks.

    Turns a sequence of images' masks (ragged: ``k_i`` masks of ``H_i x W_i``
    for image ``i``) into a table with one row per image: for each chosen
    metric, the chosen statistics over all unordered pairs of the image's masks,
    then the number of masks. With the defaults the first column is the paper's
    IAA, the mean pairwise Dice.

    The transformer is stateless: ``fit`` only validates the parameters, and
    ``transform`` may be called without it.

    Parameters
    ----------
    metrics : str or sequence of str, default=("dice",)
        Pairwise metrics, names of :data:`skiaa.agreement.METRICS` (or the IMA++
        release's names, which are translated to skiaa's).
    statistics : str or sequence of {"mean", "std", "min", "max", "median"}, \
default=("mean",)
        Statistics of each metric over an image's pairs.
    tolerance : float, default=2.0
        Tolerance of ``surface_dice`` and ``boundary_f1`` (pixels, or
        ``spacing`` units).
    spacing : float or sequence of 2 floats, default=None
        Pixel size (rows, columns), the same for every image. None means 1.
    min_masks : int, default=2
        Fewest masks an image must have (at least 2: agreement needs a pair).
    few_masks : {"raise", "nan"}, default="raise"
        What to do with an image that has fewer than ``min_masks`` masks: raise
        a ``ValueError`` naming it, or give it a row of NaN (its ``n_masks`` is
        still filled in), so that it can be filtered out downstream.
    ddof : int, default=1
        Delta degrees of freedom of ``std``. The default, the sample standard
        deviation, is the IMA++ release's; it is NaN for images with one pair
        (two masks).
    n_jobs : int, default=None
        Images processed in parallel by joblib (``-1``: all cores). Mask files
        are read inside the workers, so paths cost no memory up front.
    verbose : int, default=0
        Show a progress bar over images when > 0.

    Attributes
    ----------
    n_features_in_ : not set
        The input is ragged (masks of varying number and size), so it has no
        feature count; see ``get_feature_names_out`` for the output columns.

    See Also
    --------
    skiaa.agreement.pairwise_agreement : the metrics on one image's pairs.
    skiaa.agreement.image_agreement : the same summary from a pairs table.

    Notes
    -----
    Each image's masks are validated by :func:`skiaa._masks.check_mask_stack`:
    a ``ValueError`` naming the image index is raised when masks of one image
    differ in shape, a value is not in {0, 1} or {0, 255}, a file cannot be read,
    or (with ``few_masks="raise"``) there are fewer than ``min_masks`` masks.
    NaN distances (one empty mask in a pair, see :mod:`skiaa.agreement`)
    propagate to the image's statistics.

    Examples
    --------
    >>> import numpy as np
    >>> from skiaa import AgreementTransformer
    >>> a = np.zeros((3, 6, 6), bool)
    >>> a[0, 1:4, 1:4] = a[1, 1:4, 1:5] = a[2, 2:4, 1:4] = True
    >>> b = np.zeros((2, 4, 5), np.uint8)
    >>> b[:, 1:3, 1:3] = 255
    >>> t = AgreementTransformer(metrics=["dice", "hausdorff"], statistics=["mean", "max"])
    >>> t.fit_transform([a, b]).round(3)
    array([[0.775, 0.857, 1.138, 1.414, 3.   ],
           [1.   , 1.   , 0.   , 0.   , 2.   ]])
    >>> t.get_feature_names_out()
    array(['dice_mean', 'dice_max', 'hausdorff_mean', 'hausdorff_max', 'n_masks'],
          dtype=object)
    """

    _parameter_constraints = {
        "metrics": [str, list, tuple],
        "statistics": [StrOptions(set(STATISTICS)), list, tuple],
        "tolerance": [Interval(numbers.Real, 0, None, closed="left")],
        "spacing": [
            None,
            Interval(numbers.Real, 0, None, closed="neither"),
            list,
            tuple,
            np.ndarray,
        ],
        "min_masks": [Interval(numbers.Integral, 2, None, closed="left")],
        "few_masks": [StrOptions({"raise", "nan"})],
        "ddof": [Interval(numbers.Integral, 0, None, closed="left")],
        "n_jobs": [None, numbers.Integral],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        metrics=("dice",),
        statistics=("mean",),
        tolerance=2.0,
        spacing=None,
        min_masks=2,
        few_masks="raise",
        ddof=1,
        n_jobs=None,
        verbose=0,
    ):
        self.metrics = metrics
        self.statistics = statistics
        self.tolerance = tolerance
        self.spacing = spacing
        self.min_masks = min_masks
        self.few_masks = few_masks
        self.ddof = ddof
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _checked_params(self):
        """Validate the parameters; return (metrics, statistics) as lists."""
        self._validate_params()
        metrics = check_metrics(self.metrics)
        statistics = check_statistics(self.statistics)
        check_tolerance(self.tolerance)
        check_spacing(self.spacing, 2)
        return metrics, statistics

    def fit(self, X, y=None):
        """Validate the parameters and the layout of ``X``; nothing is learnt.

        Parameters
        ----------
        X : sequence of mask stacks
            As in :meth:`transform`. Only refused here when it cannot be a
            sequence at all (a sparse matrix, a DataFrame, a string); masks are
            not read, so fitting costs nothing, and :meth:`transform` validates
            them.
        y : None
            Ignored.

        Returns
        -------
        self : AgreementTransformer
            The fitted transformer.

        Raises
        ------
        ValueError
            If a parameter is invalid or ``X`` is not a sequence of mask stacks.
        """
        self._checked_params()
        self._check_X(X, layout_only=True)
        return self

    def transform(self, X):
        """Per-image agreement features.

        Parameters
        ----------
        X : sequence of length n_images
            One item per image: an array (k, H, W) of masks, or a sequence of
            k 2-D masks (bool, 0/1 or 0/255) or mask file paths (read lazily,
            one image at a time). ``k`` and ``H x W`` may differ between images.

        Returns
        -------
        features : ndarray of shape (n_images, n_features)
            Columns named by :meth:`get_feature_names_out` (a DataFrame with
            ``set_output(transform="pandas")``).

        Raises
        ------
        ValueError
            If ``X`` is not a sequence of mask stacks, or an image's masks are
            invalid; the message names the image's index.
        """
        metrics, statistics = self._checked_params()
        images = self._check_X(X)
        spacing = check_spacing(self.spacing, 2)
        args = (metrics, statistics, float(self.tolerance), spacing)
        args += (self.min_masks, self.few_masks, self.ddof)
        jobs = (delayed(_image_row)(masks, i, *args) for i, masks in enumerate(images))
        results = Parallel(n_jobs=self.n_jobs, return_as="generator")(jobs)
        rows = []
        for row, caught in progress(
            results, verbose=self.verbose, desc="agreement", total=len(images), unit="img"
        ):
            rows.append(row)
            for message, category in caught:  # re-raised here, whichever process ran it
                warnings.warn(message, category, stacklevel=2)
        return np.vstack(rows)

    @staticmethod
    def _check_X(X, *, layout_only=False):
        """Check that ``X`` is a sequence of per-image mask stacks; return it as a list.

        ``layout_only`` (in ``fit``) only refuses what can never be a sequence of
        images (sparse matrices, tables, strings, scalars) without touching the
        masks, so that fitting stays free.
        """
        import pandas as pd
        from scipy import sparse

        if sparse.issparse(X):
            raise ValueError(
                "sparse input is not supported: X must be a sequence of mask stacks "
                "(one per image)"
            )
        if isinstance(X, (pd.DataFrame, str, bytes)) or not hasattr(X, "__iter__"):
            raise ValueError(
                f"X must be a sequence of mask stacks (one per image), got {type(X).__name__}"
            )
        if layout_only:
            return None
        if isinstance(X, np.ndarray) and X.dtype != object and X.ndim != 4:
            raise ValueError(
                "X as a numeric array must be 4-D (n_images, k, H, W); "
                f"got shape {X.shape}. Ragged input goes in a list."
            )
        images = list(X.to_numpy() if isinstance(X, pd.Series) else X)
        if not images:
            raise ValueError("X holds no image: expected at least one mask stack")
        return images

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns.

        Parameters
        ----------
        input_features : None
            Ignored: mask stacks have no input feature names.

        Returns
        -------
        feature_names_out : ndarray of str objects
            ``<metric>_<statistic>`` for each metric and statistic (metric-major),
            then ``n_masks``.
        """
        metrics, statistics = self._checked_params()
        names = [f"{m}_{s}" for m in metrics for s in statistics] + ["n_masks"]
        return np.asarray(names, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        # The input is a ragged sequence of mask stacks, not a 2-D feature matrix.
        tags.input_tags.two_d_array = False
        tags.target_tags.required = False
        return tags
