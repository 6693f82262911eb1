"""matplotlib figures of the statistics (matplotlib imported on call, not on import)."""

import numpy as np

from ._compare import _split_groups, largest_ecdf_gap
from ._factors import agreement_by_factor, pair_groups

# Colour-blind-safe pair (Okabe-Ito blue / vermillion): reference, positive.
_COLORS = ("#0072B2", "#D55E00")


def _get_ax(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5.5, 4.2))
    return ax


def plot_ecdf(
    values,
    groups,
    *,
    positive=None,
    ax=None,
    mark_gap=True,
    comparison=None,
    xlabel="IAA (mean pairwise Dice)",
    title="ECDF of inter-annotator agreement",
    colors=_COLORS,
):
    """Plot the empirical CDFs of two groups, with their largest gap marked.

    Parameters
    ----------
    values : array-like of shape (n_samples,)
        The outcome (e.g. per-image IAA).
    groups : array-like of shape (n_samples,)
        Two distinct labels, as in :func:`compare_groups`.
    positive : object, default=None
        Group of interest (drawn second, in the second colour); None takes the
        larger label, as :func:`compare_groups` does.
    ax : matplotlib.axes.Axes, default=None
        Where to draw; a new figure when None.
    mark_gap : bool, default=True
        Draw the largest vertical gap (the two-sample KS statistic ``D``) as a
        segment between the curves, labelled with ``D`` and its location.
    comparison : GroupComparison, default=None
        When given, its two-sided Mann-Whitney and KS p-values are printed in
        the upper left corner, under the legend.
    xlabel, title : str
        Axis label and title.
    colors : (str, str)
        Colours of the reference and positive groups.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes drawn on.

    See Also
    --------
    compare_groups : the tests behind the figure.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skiaa.stats import plot_ecdf
    >>> rng = np.random.default_rng(0)
    >>> values = np.r_[rng.beta(8, 2, 200), rng.beta(6, 2, 60)]
    >>> groups = ["benign"] * 200 + ["malignant"] * 60
    >>> ax = plot_ecdf(values, groups)
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['benign (n = 200)', 'malignant (n = 60)']
    """
    labels, positive, reference, samples = _split_groups(values, groups, positive)
    ax = _get_ax(ax)
    for label, color in zip((reference, positive), colors):
        x = np.sort(samples[label])
        y = np.arange(1, len(x) + 1) / len(x)
        # Start the step at 0 on the left so each curve reads as a full CDF.
        ax.step(
            np.r_[x[0], x],
            np.r_[0.0, y],
            where="post",
            color=color,
            lw=1.8,
            label=f"{label} (n = {len(x)})",
        )
    if mark_gap:
        gap, loc, _ = largest_ecdf_gap(samples[positive], samples[reference])
        f_pos = np.searchsorted(np.sort(samples[positive]), loc, side="right") / len(
            samples[positive]
        )
        f_ref = np.searchsorted(np.sort(samples[reference]), loc, side="right") / len(
            samples[reference]
        )
        ax.vlines(loc, min(f_pos, f_ref), max(f_pos, f_ref), color="k", lw=1.4, linestyles="--")
        ax.plot([loc, loc], [f_pos, f_ref], "o", color="k", ms=3.5)
        ax.annotate(
            f"largest gap D = {gap:.3f}\nat {loc:.3f}",
            xy=(loc, (f_pos + f_ref) / 2),
            xytext=(-12, 0),
            textcoords="offset points",
            ha="right",
            va="center",
            fontsize=9,
            # The curves pass behind the label; a backing keeps it legible.
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.85},
        )
    if comparison is not None:
        mwu = comparison.tests["mannwhitneyu"]["two-sided"]["pvalue"]
        ks = comparison.tests["ks"]["two-sided"]["pvalue"]
        ax.text(
            0.03,
            0.80,
            f"Mann-Whitney U p = {mwu:.2g}\nKolmogorov-Smirnov p = {ks:.2g}",
            transform=ax.transAxes,
            ha="left",
            va="top",
            fontsize=9,
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.85},
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel("cumulative proportion of images")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", frameon=False)
    return ax


def plot_agreement_by_factor(
    pairs,
    factor,
    *,
    value_column="dice",
    include_consensus=False,
    ax=None,
    ylabel="Dice between the two masks",
    title=None,
):
    """Box plot of pairwise agreement by factor, with means and pair counts.

    Parameters
    ----------
    pairs : pandas.DataFrame
        Pairs table, as in :func:`agreement_by_factor`.
    factor : {"annotator", "tool", "skill"} or str
        Grouping, as in :func:`agreement_by_factor`.
    value_column : str, default="dice"
        Column of ``pairs`` plotted, as in :func:`agreement_by_factor`.
    include_consensus : bool, default=False
        Whether pairs with a consensus mask are kept, as in
        :func:`agreement_by_factor`.
    ax : matplotlib.axes.Axes, default=None
        Where to draw; a new figure when None.
    ylabel : str, default="Dice between the two masks"
        Label of the y axis.
    title : str, default=None
        ``"Pairwise agreement by <factor>"`` when None.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes drawn on.

    See Also
    --------
    agreement_by_factor : the table plotted.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> from skiaa.stats import plot_agreement_by_factor
    >>> pairs = pd.DataFrame({"annotator1": ["A1", "A1", "A2"], "annotator2": ["A1", "A2", "A3"],
    ...                       "dice_score": [0.9, 0.7, 0.8]})
    >>> ax = plot_agreement_by_factor(pairs, "annotator")
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['inter-annotator\\nn=2', 'intra-annotator\\nn=1']
    """
    table = agreement_by_factor(
        pairs, factor, value_column=value_column, include_consensus=include_consensus
    )
    # Recompute each pair's group to draw distributions, not only means.
    groups = _pair_groups(pairs, factor, value_column, include_consensus)
    ax = _get_ax(ax)
    data = [groups[g] for g in table.index]
    positions = np.arange(1, len(data) + 1)
    ax.boxplot(
        data,
        positions=positions,
        widths=0.55,
        showfliers=False,
        medianprops={"color": "k"},
    )
    ax.plot(positions, table["mean"], "D", color=_COLORS[1], ms=5, label="mean")
    ax.set_xticks(positions, [f"{g}\nn={n}" for g, n in zip(table.index, table["n"])], fontsize=8)
    ax.set_ylabel(ylabel)
    # The key goes under the tick labels, not in a legend: on the axes a legend
    # covers boxes whatever its corner (agreement spans the whole [0, 1] range).
    ax.set_xlabel("\u25c6 mean; box: median and quartiles; whiskers: 1.5 IQR", fontsize=8)
    ax.set_title(title or f"Pairwise agreement by {factor}")
    ax.grid(axis="y", alpha=0.3)
    return ax


def _pair_groups(pairs, factor, value_column, include_consensus):
    """Values of each group of :func:`agreement_by_factor`, pair by pair."""
    labels, values, _, _ = pair_groups(pairs, factor, value_column, include_consensus)
    return {label: values[labels == label] for label in np.unique(labels)}
