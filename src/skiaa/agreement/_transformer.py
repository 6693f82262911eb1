"""Scikit-learn transformer from masks to per-image inter-annotator agreement.

The transformer is the scikit-learn face of the pairwise engine: every number
it returns comes from the engine's per-image values (``image_values``),
summaries (``summarise``) and the multi-rater measures (``image_measures``);
it only lays them out as one row per image.
"""

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions

from ..utils import progress
from ._engine import (
    check_metrics,
    check_statistics,
    check_tolerance,
    image_values,
    map_batches,
    summarise,
    warn_empty_pairs,
)
from ._metrics import check_labels_option
from ._multirater import (
    IMAGE_MEASURES,
    AlphaUndefinedWarning,
    check_measures,
    image_measures,
)
from ._naming import STATISTICS, label_columns

__all__ = ["AgreementTransformer"]


def _image_row(masks, index, spacing, metrics, statistics, options):
    """Feature row of one image, the pairs whose distances are NaN, and whether alpha is.

    The row holds the statistics of each metric over the image's pairs, then the
    whole-stack measures, then k. Nothing is warned here (this runs in worker
    threads); the caller warns.
    """
    tolerance, hd_percentile, empty, min_masks, few_masks, ddof, measures, labels = options
    stack, values, lonely = image_values(
        masks,
        metrics,
        spacing=spacing,
        tolerance=tolerance,
        hd_percentile=hd_percentile,
        empty=empty,
        image_index=index,
        min_masks=0 if few_masks == "nan" else min_masks,
        labels=labels,
    )
    k = stack.shape[0]
    if k < min_masks:
        n_features = len(label_columns(metrics, labels)) * len(statistics) + len(measures)
        return np.concatenate([np.full(n_features, np.nan), [k]]), [], False
    # The pixels any class marks (a bool stack: itself).
    extra, alpha_undefined = image_measures(stack != 0, measures)
    summary = summarise(values, statistics, ddof).reshape(-1)
    return np.concatenate([summary, extra, [k]]), lonely, alpha_undefined


def _batch_rows(batch, *args):
    """Rows of a batch of ``(index, masks, spacing)`` images (one task per worker batch).

    Masks are read and validated inside the worker, so file paths cost nothing
    to ship and arrays are shared, not copied, by the thread backend.
    """
    return [(index, *_image_row(masks, index, spacing, *args)) for index, masks, spacing in batch]


class AgreementTransformer(TransformerMixin, BaseEstimator):
    """Per-image inter-annotator agreement from each image's stack of masks.

    Turns a sequence of images' masks (ragged: ``k_i`` masks of ``H_i x W_i``
    for image ``i``, or of ``D_i x H_i x W_i`` for volumes) into a table with
    one row per image: for each chosen metric, the chosen statistics over all
    unordered pairs of the image's masks, then the number of masks. With the
    defaults the first column is the paper's IAA, the mean pairwise Dice.

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
    measures : str or sequence of str, default=()
        Multi-rater measures of each image's whole stack, among
        :data:`skiaa.agreement.IMAGE_MEASURES`: ``"krippendorff_alpha"``
        (pixel-level alpha of the image), ``"annotator_diversity"`` (the
        annotators' term of the generalized energy distance) and
        ``"union_entropy"`` (mean pixel entropy of the annotators' votes over
        the voxels any of them marked). One column each, after the pair
        statistics.
    tolerance : float, default=2.0
        Tolerance of ``surface_dice`` and ``boundary_f1`` (pixels, or
        ``spacing`` units).
    spacing : float, sequence of floats or array of shape (n_images, ndim), default=None
        Pixel (voxel) size along each axis, in the masks' axis order: one
        number for every axis, one per axis for every image, or one row per
        image (scans of different resolutions). None means the voxel size
        stored in the masks' NIfTI files when they are files, else 1.
    hd_percentile : {"pooled", "max", "area_weighted"}, default="pooled"
        HD95 over both directed distance sets pooled (medpy, the IMA++
        release), the larger directed 95th percentile (MONAI), or over
        area-weighted surface elements (DeepMind's); see
        :func:`skiaa.agreement.hd95`.
    empty : {"nan", "worst"}, default="nan"
        Boundary distances of a pair with exactly one empty mask: NaN (with an
        :class:`~skiaa.agreement.EmptyMaskWarning`, and NaN statistics for the
        image) or the image diagonal (1.0 normalised).
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
        Workers (threads) processing batches of images in parallel (``-1``:
        all cores; None: 1 unless in a :func:`joblib.parallel_config`
        context, whose backend, Dask say, is then used). The images are split
        into about four contiguous batches per worker; the numpy and scipy
        kernels release the GIL, so threads run in parallel without copying
        the masks. Mask files are read inside the workers. The result does
        not depend on ``n_jobs``.
    verbose : int, default=0
        Show a progress bar over images when > 0.
    labels : sequence of int, default=None
        The masks are label maps (one integer class per pixel) and these are
        the class values to measure: each metric then gives the mean over the
        classes, then one column per class (``dice_mean``,
        ``dice_label1_mean``...), as in
        :func:`~skiaa.agreement.pairwise_agreement`. The classes are named,
        not found (``"all"`` is refused), so that every image has the same
        columns. The whole-stack ``measures`` stay binary (any class against
        the background). None: binary masks.

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
    >>> from skiaa.agreement import AgreementTransformer
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
        "measures": [StrOptions(set(IMAGE_MEASURES)), list, tuple],
        "tolerance": [Interval(numbers.Real, 0, None, closed="left")],
        "spacing": [
            None,
            Interval(numbers.Real, 0, None, closed="neither"),
            list,
            tuple,
            np.ndarray,
        ],
        "hd_percentile": [StrOptions({"pooled", "max", "area_weighted"})],
        "empty": [StrOptions({"nan", "worst"})],
        "min_masks": [Interval(numbers.Integral, 2, None, closed="left")],
        "few_masks": [StrOptions({"raise", "nan"})],
        "ddof": [Interval(numbers.Integral, 0, None, closed="left")],
        "n_jobs": [None, numbers.Integral],
        "verbose": ["verbose"],
        "labels": [None, list, tuple, np.ndarray],
    }

    def __init__(
        self,
        *,
        metrics=("dice",),
        statistics=("mean",),
        measures=(),
        tolerance=2.0,
        spacing=None,
        hd_percentile="pooled",
        empty="nan",
        min_masks=2,
        few_masks="raise",
        ddof=1,
        n_jobs=None,
        verbose=0,
        labels=None,
    ):
        self.metrics = metrics
        self.statistics = statistics
        self.measures = measures
        self.tolerance = tolerance
        self.spacing = spacing
        self.hd_percentile = hd_percentile
        self.empty = empty
        self.min_masks = min_masks
        self.few_masks = few_masks
        self.ddof = ddof
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.labels = labels

    def _checked_params(self):
        """Validate the parameters; return (metrics, statistics) as lists."""
        self._validate_params()
        check_labels_option(self.labels)
        metrics = check_metrics(self.metrics)
        statistics = check_statistics(self.statistics)
        check_measures(self.measures)
        check_tolerance(self.tolerance)
        try:
            spacing = None if self.spacing is None else np.asarray(self.spacing, dtype=float)
        except (TypeError, ValueError):  # ragged rows, strings
            spacing = np.array([np.nan])
        if spacing is not None and (
            spacing.ndim > 2 or not np.all(np.isfinite(spacing)) or np.any(spacing <= 0)
        ):
            raise ValueError(
                "spacing must be a positive number, one positive number per axis, or an "
                f"array (n_images, ndim) of them; got {self.spacing!r}"
            )
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
            One item per image: an array (k, H, W) of masks or (k, D, H, W) of
            volumes, or a sequence of k masks (bool, 0/1 or 0/255) or mask
            file paths (PNG, ``.npy``, NIfTI; read lazily, one image at a
            time). ``k`` and the shape may differ between images.

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
        spacings = self._per_image_spacing(len(images))
        options = (float(self.tolerance), self.hd_percentile, self.empty)
        options += (self.min_masks, self.few_masks, self.ddof, check_measures(self.measures))
        options += (check_labels_option(self.labels),)
        items = [(i, masks, spacings[i]) for i, masks in enumerate(images)]
        results = map_batches(_batch_rows, items, self.n_jobs, metrics, statistics, options)
        n_features = len(self.get_feature_names_out())
        out = np.empty((len(images), n_features))
        bar = progress(verbose=self.verbose, desc="agreement", total=len(images), unit="img")
        with bar:
            for batch in results:
                for index, row, lonely, alpha_undefined in batch:
                    out[index] = row
                    # Warned here, in image order, whichever worker computed them.
                    warn_empty_pairs(lonely, f"image {index}, ", stacklevel=3)
                    if alpha_undefined:
                        warnings.warn(
                            f"image {index}: Krippendorff's alpha is undefined (every pixel "
                            "has the same value in every mask); returned as NaN",
                            AlphaUndefinedWarning,
                            stacklevel=2,
                        )
                bar.update(len(batch))
        return out

    def _per_image_spacing(self, n_images):
        """One spacing (or None) per image, from the ``spacing`` parameter."""
        if self.spacing is None:
            return [None] * n_images
        spacing = np.asarray(self.spacing, dtype=np.float64)
        if spacing.ndim == 2:
            if spacing.shape[0] != n_images:
                raise ValueError(
                    f"spacing has {spacing.shape[0]} rows, one per image, but X holds "
                    f"{n_images} images"
                )
            return list(spacing)
        return [spacing] * n_images

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
        if isinstance(X, np.ndarray) and X.dtype != object and X.ndim < 4:
            raise ValueError(
                "X as a numeric array must be 4-D (n_images, k, H, W) or 5-D "
                f"(n_images, k, D, H, W); got shape {X.shape}. Ragged input goes in a list."
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
            ``<metric>_<statistic>`` for each metric and statistic (metric-major;
            with ``labels``, ``<metric>_label<value>_<statistic>`` after each
            metric's mean over classes), then the measures, then ``n_masks``.
        """
        metrics, statistics = self._checked_params()
        columns = label_columns(metrics, check_labels_option(self.labels))
        names = [f"{c}_{s}" for c in columns for s in statistics]
        names += check_measures(self.measures) + ["n_masks"]
        return np.asarray(names, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        # The input is a ragged sequence of mask stacks, not a 2-D feature matrix.
        tags.input_tags.two_d_array = False
        tags.target_tags.required = False
        return tags
