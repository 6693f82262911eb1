"""The naming rules of agreement tables, in one place.

skiaa writes agreement tables in two namings: its own (``image_id``, ``dice``,
``hd95_normalized``...) and the IMA++ release's (``img_id``, ``dice_score``,
``hd95_score_normalized``...). Every function that reads such a table accepts
both, through the helpers here; every module that names metrics, consensus
codes or statistics (agreement, the transformer, stats, datasets, the CLI)
takes the names from here, so a new metric or statistic is added once.
"""

import difflib

__all__ = [
    "METRICS",
    "DEFAULT_METRICS",
    "OVERLAP_METRICS",
    "DISTANCE_METRICS",
    "TOLERANCE_METRICS",
    "RELEASE_NAMES",
    "FROM_RELEASE",
    "CONSENSUS_CODES",
    "STATISTICS",
    "ID_COLUMNS",
    "check_metrics",
    "check_statistics",
    "label_column",
    "label_columns",
    "metric_column",
    "metric_columns",
    "id_column",
    "summary_column",
    "value_column",
]

#: Every metric :func:`~skiaa.agreement.pairwise_agreement` computes, by its skiaa name.
METRICS = (
    "dice",
    "jaccard",
    "hausdorff",
    "hd95",
    "assd",
    "hausdorff_normalized",
    "hd95_normalized",
    "assd_normalized",
    "surface_dice",
    "boundary_f1",
    "generalized_dice",
)

#: The metrics of the IMA++ release's pairwise table, the default everywhere.
DEFAULT_METRICS = METRICS[:8]

#: Overlap metrics (counted on the masks, no border needed). ``generalized_dice``
#: pools every class of label maps (Sudre et al. 2017); on binary masks it is Dice.
OVERLAP_METRICS = ("dice", "jaccard", "generalized_dice")

#: Boundary distances (their ``*_normalized`` forms divide by the image diagonal).
DISTANCE_METRICS = ("hausdorff", "hd95", "assd")

#: Boundary scores at a tolerance.
TOLERANCE_METRICS = ("surface_dice", "boundary_f1")

#: skiaa column name -> IMA++ release column name. The one mapping between the
#: two namings; ``pairs.rename(columns=RELEASE_NAMES)`` writes the release's layout.
RELEASE_NAMES = {
    "image_id": "img_id",
    "dice": "dice_score",
    "jaccard": "jaccard_score",
    "hausdorff": "hd_score",
    "hd95": "hd95_score",
    "assd": "assd_score",
    "hausdorff_normalized": "hd_score_normalized",
    "hd95_normalized": "hd95_score_normalized",
    "assd_normalized": "assd_score_normalized",
    "surface_dice": "surface_dice_score",
    "boundary_f1": "boundary_f1_score",
    "generalized_dice": "generalized_dice_score",
}

#: IMA++ release column name -> skiaa column name.
FROM_RELEASE = {v: k for k, v in RELEASE_NAMES.items()}

#: Annotator codes of consensus masks in IMA++ (STAPLE and majority vote).
CONSENSUS_CODES = ("ST", "MV")

#: Statistics of a metric over an image's pairs, accepted by
#: :func:`~skiaa.agreement.image_agreement` and :class:`~skiaa.AgreementTransformer`.
#: ``std`` is the sample standard deviation unless ``ddof`` says otherwise.
STATISTICS = ("mean", "std", "min", "max", "median")

#: Image id column of a pairs table, skiaa's name first.
ID_COLUMNS = ("image_id", "img_id")


def _unknown(name, choices, what, where):
    close = difflib.get_close_matches(str(name), list(choices))  # the 3 closest
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    return ValueError(f"unknown {what} {name!r}{where}; choose from {', '.join(choices)}.{hint}")


def check_metrics(metrics, default=DEFAULT_METRICS):
    """Validate metric names (skiaa's or the release's); return skiaa names, deduplicated.

    None means ``default``. Raises ``ValueError`` naming an unknown metric and
    the closest known names.
    """
    if metrics is None:
        return list(default)
    if isinstance(metrics, str):
        metrics = [metrics]
    out = []
    for name in metrics:
        key = FROM_RELEASE.get(name, name) if isinstance(name, str) else name
        if key not in METRICS:
            close = difflib.get_close_matches(str(name), [*METRICS, *FROM_RELEASE], n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ValueError(f"unknown metric {name!r}; choose from {', '.join(METRICS)}.{hint}")
        if key not in out:
            out.append(key)
    if not out:
        raise ValueError("metrics must name at least one metric")
    return out


def check_statistics(statistics):
    """Validate statistic names; return them as a list of distinct names, in order."""
    if isinstance(statistics, str):
        statistics = [statistics]
    try:
        statistics = list(statistics)
    except TypeError:
        raise ValueError(
            f"statistics must be names among {', '.join(STATISTICS)}, got {statistics!r}"
        ) from None
    for stat in statistics:
        if stat not in STATISTICS:
            raise _unknown(stat, STATISTICS, "statistic", where=" in statistics")
    if not statistics or len(set(statistics)) != len(statistics):
        raise ValueError(
            f"statistics must be distinct names among {', '.join(STATISTICS)}, got {statistics!r}"
        )
    return statistics


def label_column(metric, label):
    """Column of one class of a label-map table: ``dice_label2`` (``dice_score_label2``)."""
    return f"{metric}_label{label}"


def label_columns(metrics, labels):
    """Columns of a label-map table, metric by metric: the mean over classes, then each class.

    ``generalized_dice`` pools the classes by definition and has one column.
    With ``labels`` None (binary masks) the columns are the metrics themselves.
    """
    if labels is None:
        return list(metrics)
    out = []
    for metric in metrics:
        out.append(metric)
        if metric != "generalized_dice":
            out.extend(label_column(metric, label) for label in labels)
    return out


def _base_metric(column):
    """skiaa metric of a column name, per-class columns (``*_label<value>``) included."""
    head, sep, tail = str(column).rpartition("_label")
    name = head if sep and tail.isdigit() else str(column)
    return FROM_RELEASE.get(name, name)


def metric_column(columns, name):
    """The column of ``columns`` holding metric ``name`` in either naming, or None.

    ``name`` may be a skiaa or release metric name; skiaa's column wins when a
    table has both.
    """
    key = FROM_RELEASE.get(name, name)
    if key not in METRICS:
        return name if name in columns else None
    for col in (key, RELEASE_NAMES[key]):
        if col in columns:
            return col
    return None


def metric_columns(columns, metrics=None):
    """The metric columns of ``columns`` (either naming), in table order.

    Per-class columns of label maps (``dice_label2``) count as their metric's;
    ``metrics`` (skiaa names) keeps only those metrics' columns.
    """
    return [
        c
        for c in columns
        if _base_metric(c) in METRICS and (metrics is None or _base_metric(c) in metrics)
    ]


def id_column(columns):
    """The image id column of ``columns`` (``image_id`` or ``img_id``), or None."""
    return next((c for c in ID_COLUMNS if c in columns), None)


def summary_column(columns, metric, statistic):
    """The per-image column ``<metric>_<statistic>`` of ``columns`` in either naming, or None.

    ``summary_column(images.columns, "dice", "mean")`` finds ``dice_mean``
    (skiaa) or ``dice_score_mean`` (the release), the paper's IAA.
    """
    key = FROM_RELEASE.get(metric, metric)
    names = (key, RELEASE_NAMES[key]) if key in METRICS else (metric,)
    return next((f"{n}_{statistic}" for n in names if f"{n}_{statistic}" in columns), None)


def value_column(columns, name, *, what="pairs table"):
    """Resolve a value column given by metric name (either naming) or column name.

    A name that is a column is used as is; a metric name finds its column in
    either naming (``"dice"`` finds ``dice_score`` in a release table and
    ``"dice_score"`` finds ``dice`` in a skiaa table). Raises ``ValueError``
    naming the column and the table's metric columns otherwise.
    """
    if name in columns:
        return name
    found = metric_column(columns, name)
    if found is not None:
        return found
    present = metric_columns(columns)
    hint = f"; its metric columns are {', '.join(present)}" if present else ""
    raise ValueError(f"{what} lacks the value column {name!r}{hint}")
