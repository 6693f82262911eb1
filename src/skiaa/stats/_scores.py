"""Figure of a segmentation model's agreement against the annotators' own range."""

import numpy as np

_MODEL, _INSIDE, _OUTSIDE = "#0072B2", "#009E73", "#D55E00"  # Okabe-Ito, colour-blind safe


def plot_model_vs_annotators(scores, metric="dice", *, axes=None):
    """Plot a model's agreement with the annotators against their own range, per image.

    Left: one column per image, sorted by the annotators' mean pairwise
    agreement; the grey bar spans the annotators' pairwise values (min to
    max), the tick is their mean, and the dot the model's mean agreement with
    the annotators: green inside the bar, blue when better than every pair,
    orange when worse. Right: the
    histogram of the model's percentiles among the annotators' pairs.

    Parameters
    ----------
    scores : pandas.DataFrame
        Per-image scores: the ``summary`` tables of
        :func:`skiaa.agreement.score_segmentation` concatenated, or the
        ``images`` table of :func:`skiaa.datasets.score_mask_folder`.
    metric : str, default="dice"
        The ``metric`` whose rows are drawn.
    axes : sequence of two matplotlib.axes.Axes, default=None
        Where to draw; a new pyplot figure with two panels when None.

    Returns
    -------
    axes : tuple of two matplotlib.axes.Axes
        The range panel and the percentile panel.

    Raises
    ------
    ValueError
        If ``scores`` has no row for ``metric`` or lacks a column.

    See Also
    --------
    skiaa.agreement.summarize_scores : the same in numbers.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skiaa.agreement import score_segmentation
    >>> from skiaa.stats import plot_model_vs_annotators
    >>> masks = np.zeros((3, 10, 10), bool)
    >>> masks[0, 2:7, 2:7] = masks[1, 2:8, 2:8] = masks[2, 3:7, 2:7] = True
    >>> pred = np.zeros((10, 10), bool); pred[2:7, 2:8] = True
    >>> scores = score_segmentation(pred, masks, ["dice"], image_id="a").summary
    >>> ax_range, ax_percentile = plot_model_vs_annotators(scores)
    """
    needed = ["metric", "model_mean", "human_mean", "human_min", "human_max", "percentile"]
    absent = [c for c in needed if c not in scores.columns]
    if absent:
        raise ValueError(f"scores lacks the columns {', '.join(absent)}")
    rows = scores[scores["metric"] == metric]
    if rows.empty:
        found = ", ".join(map(str, scores["metric"].unique()))
        raise ValueError(f"scores has no row for metric {metric!r}; it has {found}")
    if axes is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(
            1, 2, figsize=(10, 4.2), gridspec_kw={"width_ratios": (3, 1)}, layout="constrained"
        )
    ax_range, ax_pct = axes
    rows = rows.sort_values("human_mean", kind="stable", na_position="last")
    x = np.arange(len(rows))
    lo, hi = rows["human_min"].to_numpy(), rows["human_max"].to_numpy()
    model = rows["model_mean"].to_numpy()
    defined = ~np.isnan(model) & ~np.isnan(lo) & ~np.isnan(hi)
    inside = defined & (lo <= model) & (model <= hi)
    lower_is_better = metric.removesuffix("_normalized") in {"hausdorff", "hd95", "assd"}
    above, below = defined & (model > hi), defined & (model < lo)
    better, worse = (below, above) if lower_is_better else (above, below)
    width = 0.8 if len(rows) <= 60 else 1.0
    ax_range.bar(x, hi - lo, bottom=lo, width=width, color="0.82", label="annotator pairs (range)")
    ax_range.scatter(
        x, rows["human_mean"], marker="_", color="0.35", s=40, label="annotators' mean"
    )
    size = 18 if len(rows) <= 200 else 6
    n = max(int(defined.sum()), 1)
    for where, colour, text in (
        (inside, _INSIDE, "model, within the range"),
        (better, _MODEL, "model, better than every pair"),
        (worse, _OUTSIDE, "model, worse than every pair"),
    ):
        label = f"{text} ({where.sum() / n:.0%})"
        ax_range.scatter(x[where], model[where], s=size, color=colour, label=label, zorder=3)
    ax_range.set_xlabel("image (sorted by the annotators' mean agreement)")
    ax_range.set_ylabel(metric + (" (lower is better)" if lower_is_better else ""))
    ax_range.set_title(f"Model vs annotators, {metric}: {int(defined.sum())} images")
    ax_range.legend(loc="best", fontsize="small", frameon=False)
    pct = rows["percentile"].dropna().to_numpy()
    ax_pct.hist(pct, bins=np.linspace(0, 100, 11), color=_MODEL, edgecolor="white")
    if pct.size:
        ax_pct.axvline(
            np.median(pct), color="0.2", linestyle="--", label=f"median {np.median(pct):.0f}"
        )
        ax_pct.legend(loc="upper left", fontsize="small", frameon=False)
    ax_pct.set_xlim(0, 100)
    ax_pct.set_xlabel("percentile among annotator pairs")
    ax_pct.set_ylabel("images")
    ax_pct.set_title("Where the model falls")
    return ax_range, ax_pct
