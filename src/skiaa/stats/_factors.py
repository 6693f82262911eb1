"""Agreement of mask pairs broken down by annotator, tool and skill level."""

import numpy as np
import pandas as pd

from ..agreement import CONSENSUS_CODES

# Either naming of pair tables is read: the naming rules are the agreement package's.
from ..agreement._naming import value_column as _value_column

# factor -> column stems tried in the pairs table (first found wins): the IMA++
# release calls the skill columns ``skill_level1``/``skill_level2``.
_STEMS = {
    "annotator": ("annotator",),
    "tool": ("tool",),
    "skill": ("skill", "skill_level"),
}


def _factor_columns(pairs, factor):
    stems = _STEMS.get(factor, (factor,))
    for stem in stems:
        if f"{stem}1" in pairs.columns and f"{stem}2" in pairs.columns:
            return f"{stem}1", f"{stem}2"
    wanted = " or ".join(f"'{s}1'/'{s}2'" for s in stems)
    raise ValueError(f"pairs table lacks the columns {wanted} for factor {factor!r}")


def agreement_by_factor(pairs, factor, *, value_column="dice", include_consensus=False):
    """Mean agreement of mask pairs grouped by a factor of the two masks.

    Parameters
    ----------
    pairs : pandas.DataFrame
        One row per pair of masks, with ``<factor>1`` and ``<factor>2`` columns
        and ``value_column``; the IMA++ pairwise table
        (``IMAplusplus_multiannotator_subset_IAA_metrics.csv``, or
        ``load_imaplusplus(root, table="pairs")``) works as is.
    factor : {"annotator", "tool", "skill"} or str
        - ``"annotator"``: intra-annotator pairs (same annotator twice) against
          inter-annotator pairs.
        - ``"tool"``, ``"skill"`` or any other column stem: one group per
          unordered combination of levels (``"S1-S2"`` pools S1/S2 and S2/S1
          pairs), plus ``same``: whether both masks share the level.

        ``"skill"`` reads ``skill1``/``skill2`` or the release's
        ``skill_level1``/``skill_level2``.
    value_column : str, default="dice"
        Agreement measure to average: a metric in skiaa's or the release's
        naming (``"dice"`` and ``"dice_score"`` both find the Dice column of
        a table from :func:`~skiaa.agreement.pairwise_agreement` or of the
        release), or any column name.
    include_consensus : bool, default=False
        Pairs involving a consensus mask (``ST`` or ``MV``, STAPLE and
        majority vote, in any annotator/tool/skill column) compare an annotator
        with a summary of the others, not two annotators, so they are left out
        by default; their number is stored in
        ``result.attrs["n_consensus_pairs_excluded"]``.

    Returns
    -------
    table : pandas.DataFrame
        One row per group (index ``group``), columns ``n``, ``mean``, ``std``,
        ``median``, ``sem`` and, except for ``"annotator"``, ``same``; sorted
        by group.

    Raises
    ------
    ValueError
        If a needed column is missing or ``value_column`` holds NaN in the pairs
        kept (naming how many).

    See Also
    --------
    plot_agreement_by_factor : the same table as a plot.

    Examples
    --------
    >>> import pandas as pd
    >>> from skiaa.stats import agreement_by_factor
    >>> pairs = pd.DataFrame({
    ...     "annotator1": ["A1", "A1", "A2", "A1"], "annotator2": ["A1", "A2", "A3", "ST"],
    ...     "skill_level1": ["S1", "S1", "S2", "S1"], "skill_level2": ["S1", "S2", "S1", "ST"],
    ...     "dice_score": [0.9, 0.7, 0.8, 0.95]})
    >>> agreement_by_factor(pairs, "annotator")[["n", "mean"]]
                     n  mean
    group
    inter-annotator  2  0.75
    intra-annotator  1  0.90
    >>> agreement_by_factor(pairs, "skill")[["n", "mean", "same"]]
           n  mean   same
    group
    S1-S1  1  0.90   True
    S1-S2  2  0.75  False
    """
    labels, values, same, excluded = pair_groups(pairs, factor, value_column, include_consensus)
    frame = pd.DataFrame({"group": labels, "value": values, "same": same})
    table = frame.groupby("group").agg(
        n=("value", "size"),
        mean=("value", "mean"),
        std=("value", "std"),
        median=("value", "median"),
        sem=("value", "sem"),
        same=("same", "first"),
    )
    if factor == "annotator":
        table = table.drop(columns="same")
    table.attrs["n_consensus_pairs_excluded"] = excluded
    table.attrs["factor"] = factor
    table.attrs["value_column"] = _value_column(pairs.columns, value_column)
    return table.sort_index()


def pair_groups(pairs, factor, value_column="dice", include_consensus=False):
    """Group label, value and same-level flag of every pair kept.

    The grouping rules of :func:`agreement_by_factor`, pair by pair (used by
    the plots to draw distributions).

    Returns
    -------
    labels : numpy.ndarray of str
    values : numpy.ndarray of float
    same : numpy.ndarray of bool
    n_excluded : int
        Consensus pairs left out.
    """
    if not isinstance(pairs, pd.DataFrame):
        raise ValueError(f"pairs must be a pandas DataFrame, got {type(pairs).__name__}")
    value_column = _value_column(pairs.columns, value_column)
    c1, c2 = _factor_columns(pairs, factor)
    level1, level2 = pairs[c1].astype(str), pairs[c2].astype(str)

    # A consensus mask carries ST/MV in every factor column; checking them all
    # keeps the same pairs whatever the factor.
    consensus = level1.isin(CONSENSUS_CODES) | level2.isin(CONSENSUS_CODES)
    for stem in ("annotator", "tool", "skill", "skill_level"):
        for col in (f"{stem}1", f"{stem}2"):
            if col in pairs.columns:
                consensus |= pairs[col].astype(str).isin(CONSENSUS_CODES)
    keep = pd.Series(True, index=pairs.index) if include_consensus else ~consensus

    values = pd.to_numeric(pairs[value_column], errors="coerce")[keep]
    if values.isna().any():
        raise ValueError(
            f"{int(values.isna().sum())} pair(s) have no {value_column!r} value; "
            "drop or fill them first"
        )
    if factor == "annotator":
        same = (level1 == level2)[keep]
        group = np.where(same, "intra-annotator", "inter-annotator").astype(object)
    else:
        # Unordered combination: S2/S1 and S1/S2 pairs are the same group.
        ordered = [sorted(p) for p in zip(level1[keep], level2[keep])]
        group = np.array([f"{lo}-{hi}" for lo, hi in ordered], dtype=object)
        same = [lo == hi for lo, hi in ordered]

    excluded = 0 if include_consensus else int(consensus.sum())
    return group, values.to_numpy(dtype=float), np.asarray(same, dtype=bool), excluded
