"""The pairwise engine: validation, per-pair values and per-image summaries.

One implementation behind :func:`~skiaa.agreement.pairwise_agreement`,
:func:`~skiaa.agreement.image_agreement`, :class:`~skiaa.AgreementTransformer`
and :func:`~skiaa.datasets.mask_folder_agreement`, so that the four give the
same numbers for the same masks and accept the same parameters.
"""

import itertools

import numpy as np

from ._metrics import MaskStats, check_spacing, check_tolerance, image_diagonal, pair_values
from ._naming import OVERLAP_METRICS, check_metrics, check_statistics

__all__ = [
    "check_labels",
    "check_metrics",
    "check_spacing",
    "check_statistics",
    "check_tolerance",
    "pair_indices",
    "pairwise_values",
    "summarise",
]


def check_labels(labels, k, what):
    """``labels`` as a list of one entry per mask, or None; ValueError otherwise."""
    if labels is None:
        return None
    labels = list(labels)
    if len(labels) != k:
        raise ValueError(f"{what} must have one entry per mask ({k}), got {len(labels)}")
    return labels


def pair_indices(k):
    """The unordered pairs ``(i, j)``, ``i < j``, of ``k`` masks, in combinations order."""
    return list(itertools.combinations(range(k), 2))


def pairwise_values(stack, metrics, *, spacing=None, tolerance=2.0, where=""):
    """Metric values (n_pairs, n_metrics) of a validated bool stack (k, ...), pairs i < j.

    Each mask is bit-packed and its border found once, then reused by its
    ``k - 1`` pairs. ``metrics`` must already be validated skiaa names;
    ``where`` prefixes warnings ("image 3, ").
    """
    spacing = check_spacing(spacing, stack.ndim - 1)
    need_surface = any(m not in OVERLAP_METRICS for m in metrics)
    stats = [MaskStats(mask, spacing, need_surface) for mask in stack]
    diagonal = image_diagonal(stack.shape[1:], spacing)
    pairs = pair_indices(stack.shape[0])
    out = np.empty((len(pairs), len(metrics)), dtype=np.float64)
    for p, (i, j) in enumerate(pairs):
        row = pair_values(
            stats[i], stats[j], metrics, tolerance, diagonal, f"{where}masks {i} and {j}: "
        )
        out[p] = [row[m] for m in metrics]
    return out


def summarise(values, statistics, ddof=1):
    """Statistics over the pairs (rows) of ``values`` (n_pairs, n_metrics).

    Returns an array (n_metrics, n_statistics). NaN propagates: a metric with
    a NaN pair gets NaN statistics rather than a summary of the other pairs.
    ``std`` with ``n_pairs - ddof <= 0`` is NaN (one pair, sample std).
    """
    values = np.asarray(values, dtype=np.float64)
    n, m = values.shape
    out = np.full((m, len(statistics)), np.nan)
    if n == 0:
        return out
    for s, stat in enumerate(statistics):
        if stat == "mean":
            out[:, s] = values.mean(axis=0)
        elif stat == "std":
            if n - ddof > 0:
                out[:, s] = values.std(axis=0, ddof=ddof)
        elif stat == "min":
            out[:, s] = values.min(axis=0)
        elif stat == "max":
            out[:, s] = values.max(axis=0)
        elif stat == "median":
            out[:, s] = np.median(values, axis=0)
        else:  # pragma: no cover - names are validated by check_statistics
            raise ValueError(f"unknown statistic {stat!r}")
    # numpy's min/max/median already give NaN for a column holding NaN; mean and
    # std do too. Kept explicit for clarity of the contract:
    out[np.isnan(values).any(axis=0)] = np.nan
    return out
