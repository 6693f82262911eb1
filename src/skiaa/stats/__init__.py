"""Statistics of agreement: group comparisons, stochastic dominance, factors, plots.

numpy/scipy/pandas only (matplotlib is imported by the plotting functions when
called): importing :mod:`skiaa.stats` never imports torch.
"""

from ._compare import GroupComparison, cliffs_delta, cohens_d, compare_groups, largest_ecdf_gap
from ._dominance import DominanceResult, stochastic_dominance_test
from ._factors import agreement_by_factor
from ._groups import diagnosis_groups
from ._plotting import plot_agreement_by_factor, plot_ecdf
from ._scores import plot_model_vs_annotators

__all__ = [
    "DominanceResult",
    "GroupComparison",
    "agreement_by_factor",
    "cliffs_delta",
    "cohens_d",
    "compare_groups",
    "diagnosis_groups",
    "largest_ecdf_gap",
    "plot_agreement_by_factor",
    "plot_ecdf",
    "plot_model_vs_annotators",
    "stochastic_dominance_test",
]
