"""Agreement on every pair of an image's masks, and its summary per image."""

import numpy as np
import pandas as pd

from ._engine import (
    check_metrics,
    check_statistics,
    pairs_frame,
    summarise_groups,
    warn_empty_pairs,
)
from ._naming import CONSENSUS_CODES, RELEASE_NAMES, id_column, metric_column, metric_columns

__all__ = ["pairwise_agreement", "image_agreement"]


def pairwise_agreement(
    masks,
    metrics=None,
    *,
    names=None,
    annotators=None,
    image_id=None,
    spacing=None,
    tolerance=2.0,
    hd_percentile="pooled",
    empty="nan",
    naming="skiaa",
    labels=None,
):
    """Agreement metrics on every unordered pair of one image's masks (2-D or 3-D).

    Parameters
    ----------
    masks : array-like of shape (k, H, W) or (k, D, H, W)..., or sequence of k arrays or paths
        The ``k >= 2`` masks of one image or volume: bool, 0/1 or 0/255, or
        mask files (PNG, ``.npy``, NIfTI ``.nii``/``.nii.gz``).
    metrics : str or list of str, default=None
        Names from :data:`METRICS` (or the release's names in
        :data:`RELEASE_NAMES`). None means :data:`DEFAULT_METRICS`, the
        release's eight columns.
    names : sequence of str, default=None
        One name per mask (file names, say), written as ``mask1``/``mask2``.
    annotators : sequence of str, default=None
        One annotator code per mask, written as ``annotator1``/``annotator2``;
        :func:`image_agreement` drops pairs with a consensus code (``ST``/``MV``).
    image_id : str, default=None
        Written in an ``image_id`` column, so that tables of several images can
        be concatenated and summarised by :func:`image_agreement`.
    spacing : float or sequence of float, default=None
        Pixel (voxel) size along each axis, in the array's axis order;
        distances and the diagonal are then physical. None means the voxel
        size stored in the masks' NIfTI files when they are read from such
        files (they must agree), else 1 per axis. A mask array whose last
        axis has 1, 3 or 4 entries is read as a picture with colour channels
        (which must agree) unless ``spacing`` gives one value per axis, that
        axis included: then it is a spatial axis (a volume that thin).
    tolerance : float, default=2.0
        Tolerance of ``surface_dice`` and ``boundary_f1``, in pixels or
        ``spacing`` units.
    hd_percentile : {"pooled", "max", "area_weighted"}, default="pooled"
        HD95 over both directed distance sets pooled (medpy, seg-metrics, the
        IMA++ release), the larger of the two directed 95th percentiles
        (MONAI), or DeepMind's surface-distance (area-weighted surface
        elements). See :func:`hd95`.
    empty : {"nan", "worst"}, default="nan"
        Boundary distances of a pair where exactly one mask is empty: NaN (with
        an :class:`EmptyMaskWarning`) or the worst case, the image diagonal
        (1.0 normalised, the IMA++ release's normalised value).
    naming : {"skiaa", "release"}, default="skiaa"
        Column names: skiaa's (``dice``...) or the IMA++ release's
        (``img_id``, ``dice_score``...; see :data:`RELEASE_NAMES`).
    labels : sequence of int or "all", default=None
        The masks are label maps (one integer class per pixel) and these are
        the classes to measure; ``"all"``: every non-zero value found in the
        image's masks. Each metric then gives one column per class,
        ``<metric>_label<value>`` (each class measured as the binary masks
        ``mask == value``, with the binary rules for empty masks), after a
        ``<metric>`` column holding the mean over the classes (NaN when a
        class is NaN). ``generalized_dice`` pools the classes in one column,
        the second mask of each pair as the reference. None: binary masks.

    Returns
    -------
    pairs : pandas.DataFrame
        One row per pair ``i < j`` in :func:`itertools.combinations` order:
        ``image_id`` (when given), ``index1``, ``index2`` (positions in
        ``masks``), ``mask1``, ``mask2`` (when ``names``), ``annotator1``,
        ``annotator2`` (when ``annotators``), then one float column per metric
        (and per class with ``labels``).

    Raises
    ------
    ValueError
        If there are fewer than 2 masks, their shapes differ, a value is not
        binary, a file cannot be read, or a parameter is invalid.

    Warns
    -----
    EmptyMaskWarning
        When a pair has exactly one empty mask (its distances are NaN).

    See Also
    --------
    image_agreement : per-image mean and std of a pairs table.
    skiaa.AgreementTransformer : the same for many images, as a transformer.

    Notes
    -----
    Each mask is bit-packed and its border found once, then reused by its
    ``k - 1`` pairs.

    Examples
    --------
    >>> import numpy as np
    >>> from skiaa.agreement import pairwise_agreement
    >>> masks = np.zeros((3, 8, 8), bool)
    >>> masks[0, 2:6, 2:6] = masks[1, 2:6, 2:7] = masks[2, 3:6, 2:6] = True
    >>> pairs = pairwise_agreement(masks, ["dice", "hausdorff"], image_id="img")
    >>> pairs
      image_id  index1  index2      dice  hausdorff
    0      img       0       1  0.888889   1.000000
    1      img       0       2  0.857143   1.000000
    2      img       1       2  0.750000   1.414214

    Label maps, one column per class after the mean over the classes:

    >>> maps = np.zeros((2, 4, 6), np.uint8)
    >>> maps[:, 1:3, 1:3] = 1
    >>> maps[0, 1:3, 3:5] = 2
    >>> maps[1, 1:3, 3:6] = 2
    >>> pairwise_agreement(maps, ["dice"], labels=[1, 2])
       index1  index2  dice  dice_label1  dice_label2
    0       0       1   0.9          1.0          0.8
    """
    pairs, lonely = pairs_frame(
        masks,
        metrics,
        names=names,
        annotators=annotators,
        image_id=image_id,
        spacing=spacing,
        tolerance=tolerance,
        hd_percentile=hd_percentile,
        empty=empty,
        naming=naming,
        labels=labels,
    )
    warn_empty_pairs(lonely, f"image {image_id}, " if image_id is not None else "")
    return pairs


# --------------------------------------------------------------------------- #
# Per-image summary of a pairs table
# --------------------------------------------------------------------------- #


def image_agreement(
    pairs, metrics=None, *, statistics=("mean", "std"), ddof=1, exclude=CONSENSUS_CODES
):
    """Summarise a pairs table into per-image statistics, the paper's way.

    The IAA of an image is the mean over all pairs of its masks (same-annotator
    pairs included), pairs involving a consensus mask excluded.

    Parameters
    ----------
    pairs : pandas.DataFrame
        A table from :func:`pairwise_agreement` (several images concatenated),
        or the IMA++ release's pairwise table
        (``IMAplusplus_multiannotator_subset_IAA_metrics.csv``). Images are
        told apart by ``image_id`` (or the release's ``img_id``); without
        either column the whole table is one image.
    metrics : list of str, default=None
        Metric columns to summarise, by skiaa or release name (with their
        per-class columns ``<metric>_label<value>`` in a table of label maps).
        None means every metric column present.
    statistics : sequence of {"mean", "std", "min", "max", "median"}, \
default=("mean", "std")
        ``std`` is the sample standard deviation (``ddof=1``), as in the
        release, hence NaN for an image with a single pair.
    ddof : int, default=1
        Delta degrees of freedom of ``std`` (as in
        :class:`~skiaa.AgreementTransformer`).
    exclude : sequence of str, default=("ST", "MV")
        Pairs whose ``annotator1`` or ``annotator2`` is one of these are
        dropped (the release's STAPLE and majority-vote masks). Ignored when
        the table has no annotator columns.

    Returns
    -------
    summary : pandas.DataFrame
        One row per image (index ``image_id``, or ``img_id`` for a table in the
        release's naming), columns ``<metric>_<statistic>`` in the table's own
        naming (``dice_mean`` or ``dice_score_mean``), then ``n_pairs``.

    Raises
    ------
    ValueError
        If a metric column is missing, a statistic is unknown or the table
        has no metric column.

    See Also
    --------
    pairwise_agreement : builds the pairs table.

    Examples
    --------
    >>> import pandas as pd
    >>> from skiaa.agreement import image_agreement
    >>> pairs = pd.DataFrame({
    ...     "img_id": ["a", "a", "a", "b"],
    ...     "annotator1": ["A01", "A01", "A02", "A03"],
    ...     "annotator2": ["A02", "ST", "ST", "A04"],
    ...     "dice_score": [0.8, 0.9, 0.7, 0.6],
    ... })
    >>> image_agreement(pairs)
            dice_score_mean  dice_score_std  n_pairs
    img_id
    a                   0.8             NaN        1
    b                   0.6             NaN        1
    """
    if not isinstance(pairs, pd.DataFrame):
        raise ValueError(f"pairs must be a pandas DataFrame, got {type(pairs).__name__}")
    statistics = check_statistics(statistics)
    if metrics is None:
        columns = metric_columns(pairs.columns)
        if not columns:
            raise ValueError(
                "pairs has no metric column; expected some of "
                f"{', '.join(RELEASE_NAMES)} or their release names"
            )
    else:
        columns = []
        for name in check_metrics(metrics):
            col = metric_column(pairs.columns, name)
            if col is None:
                raise ValueError(f"pairs has no column for metric {name!r}")
            columns.append(col)
            per_class = metric_columns(pairs.columns, [name])
            columns.extend(c for c in per_class if c != col and c not in columns)
    # Names the id column only of a table without one (one image): the release's
    # when its metric columns are.
    release = any(c in RELEASE_NAMES.values() for c in columns)
    table = pairs
    if exclude:
        keep = np.ones(len(table), dtype=bool)
        for col in ("annotator1", "annotator2"):
            if col in table.columns:
                keep &= ~table[col].isin(list(exclude)).to_numpy()
        table = table[keep]
    id_col = id_column(table.columns)
    if id_col is None:
        id_col = "img_id" if release else "image_id"
        table = table.assign(**{id_col: 0})
    values = table[columns].to_numpy(dtype=np.float64)
    ids = table[id_col].to_numpy()
    # Group rows by image (sorted ids), then summarise each group with the
    # engine the transformer uses: same statistics, same NaN rule.
    inverse, uniques = pd.factorize(ids, sort=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(uniques) + 1))
    out = summarise_groups(values[order], bounds, statistics, ddof)
    parts = {
        f"{col}_{stat}": out[:, c, s]
        for c, col in enumerate(columns)
        for s, stat in enumerate(statistics)
    }
    summary = pd.DataFrame(parts, index=pd.Index(uniques, name=id_col))
    summary["n_pairs"] = np.diff(bounds).astype(np.int64)
    return summary
