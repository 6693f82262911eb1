"""Two-group comparison of a continuous outcome (benign vs malignant IAA)."""

import contextlib
import inspect
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .._docstring import RANDOM_STATE_DOC, Substitution
from ..utils import as_generator, check_labels
from ._dominance import DominanceResult, stochastic_dominance_test
from ._utils import check_sample

# Alternatives are phrased for the positive group against the reference one,
# as scipy.stats.mannwhitneyu(positive, reference) phrases them.
_ALTERNATIVES = ("two-sided", "less", "greater")


# scipy >= 1.15 names the bootstrap's generator ``rng`` (``random_state`` is
# deprecated there); older releases, which skiaa supports, only know ``random_state``.
_BOOTSTRAP_RNG = (
    "rng" if "rng" in inspect.signature(stats.bootstrap).parameters else "random_state"
)


def cohens_d(x, y):
    """Cohen's d of ``x`` against ``y`` with the pooled standard deviation.

    ``d = (mean(x) - mean(y)) / s_p`` with
    ``s_p = sqrt(((n_x - 1) s_x^2 + (n_y - 1) s_y^2) / (n_x + n_y - 2))`` and
    ``s^2`` the unbiased (``ddof=1``) variances: each variance is weighted by its
    degrees of freedom, not averaged, so unequal group sizes are handled.

    Parameters
    ----------
    x, y : array-like of shape (n,) and (m,)
        Samples, with ``n + m > 2``.

    Returns
    -------
    d : float
        Positive when ``x`` has the larger mean; NaN when both samples are
        constant and equal, +/-inf when constant and different.

    Examples
    --------
    >>> from skiaa.stats import cohens_d

    Means 2 and 3.5, variances 1 and 5/3, pooled variance (2 * 1 + 3 * 5/3) / 5:

    >>> round(cohens_d([1.0, 2.0, 3.0], [2.0, 3.0, 4.0, 5.0]), 4)
    -1.2677
    """
    x, y = check_sample(x, "x"), check_sample(y, "y")
    n, m = len(x), len(y)
    if n + m <= 2:
        raise ValueError("Cohen's d needs more than two values in total")
    vx = x.var(ddof=1) if n > 1 else 0.0
    vy = y.var(ddof=1) if m > 1 else 0.0
    pooled = np.sqrt(((n - 1) * vx + (m - 1) * vy) / (n + m - 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        return float((x.mean() - y.mean()) / pooled)


def cliffs_delta(x, y):
    """Cliff's delta: ``P(X > Y) - P(X < Y)`` over all pairs of the two samples.

    Computed from the Mann-Whitney U statistic of ``x``
    (``delta = 2 U / (n m) - 1``), in ``O((n + m) log(n + m))``.

    Parameters
    ----------
    x, y : array-like of shape (n,) and (m,)
        The two samples.

    Returns
    -------
    delta : float in [-1, 1]
        Positive when ``x`` tends to be larger.

    Examples
    --------
    >>> from skiaa.stats import cliffs_delta

    One pair with x larger, nine with x smaller, two ties, out of 12:

    >>> round(cliffs_delta([1, 2, 3], [2, 3, 4, 5]), 4)  # (1 - 9) / 12
    -0.6667
    """
    x, y = check_sample(x, "x"), check_sample(y, "y")
    u = stats.mannwhitneyu(x, y, method="asymptotic").statistic
    return float(2.0 * u / (len(x) * len(y)) - 1.0)


def largest_ecdf_gap(x, y):
    """Largest vertical gap between the ECDFs of ``x`` and ``y``, and where it is.

    Parameters
    ----------
    x, y : array-like of shape (n,) and (m,)
        The two samples.

    Returns
    -------
    gap : float
        ``max_t |F_x(t) - F_y(t)|``, the two-sample KS statistic.
    location : float
        The smallest ``t`` (a data value) where the gap is reached.
    difference : float
        ``F_x(t) - F_y(t)`` at ``location``: its sign says which ECDF is above.

    Examples
    --------
    >>> from skiaa.stats import largest_ecdf_gap
    >>> gap, location, difference = largest_ecdf_gap([1, 2, 3], [3, 4, 5])
    >>> round(gap, 4), location, round(difference, 4)
    (0.6667, 2.0, 0.6667)
    """
    x, y = check_sample(x, "x"), check_sample(y, "y")
    grid = np.unique(np.concatenate([x, y]))
    diff = np.searchsorted(np.sort(x), grid, side="right") / len(x) - np.searchsorted(
        np.sort(y), grid, side="right"
    ) / len(y)
    # First grid point reaching the max, with a tolerance: 2/3 can come out as
    # 0.666...6 or 0.666...7 depending on how it was computed.
    absdiff = np.abs(diff)
    i = int(np.flatnonzero(absdiff >= absdiff.max() - 1e-12)[0])
    return float(abs(diff[i])), float(grid[i]), float(diff[i])


def _ks_2samp(x, y, alternative, method):
    """``scipy.stats.ks_2samp`` and the p-value method it really used.

    scipy falls back from the exact to the asymptotic p-value with a warning
    (for one-sided tests on large samples); the fallback is recorded instead.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = stats.ks_2samp(x, y, alternative=alternative, method=method)
    fell_back = any("Switching to method=asymp" in str(w.message) for w in caught)
    for w in caught:
        if "Switching to method=asymp" not in str(w.message):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if method == "asymp" or fell_back:
        used = "asymp"
    elif method == "exact":
        used = "exact"
    else:  # scipy's "auto": exact when both samples have at most 10,000 values
        used = "exact" if max(len(x), len(y)) <= 10000 else "asymp"
    return res, used


def _bootstrap_interval(data, statistic, n_resamples, level, method, seed):
    """Stratified bootstrap interval, and the method that produced it.

    BCa is undefined when the jackknife values are all equal (e.g. a median
    that no leave-one-out changes, or constant data); scipy then returns NaN.
    The percentile interval is used instead and the fallback recorded.
    """

    def run(method):
        with warnings.catch_warnings():
            # scipy's degenerate-jackknife warning (a RuntimeWarning) among them.
            warnings.simplefilter("ignore", category=RuntimeWarning)
            res = stats.bootstrap(
                data,
                statistic,
                n_resamples=n_resamples,
                batch=1000,
                vectorized=True,
                confidence_level=level,
                method=method,
                **{_BOOTSTRAP_RNG: np.random.default_rng(seed)},
            )
        return float(res.confidence_interval.low), float(res.confidence_interval.high)

    interval = run(method)
    if method == "BCa" and not np.all(np.isfinite(interval)):
        return run("percentile"), "percentile (BCa undefined: degenerate jackknife)"
    return interval, method


def _describe(values):
    return {
        "n": int(len(values)),
        "mean": float(np.mean(values)),
        "median": float(np.median(values)),
        "std": float(np.std(values, ddof=1)),
        "q25": float(np.quantile(values, 0.25)),
        "q75": float(np.quantile(values, 0.75)),
    }


def _jsonable(label):
    return label.item() if isinstance(label, np.generic) else label


@dataclass
class GroupComparison:
    """Result of :func:`compare_groups`; differences are positive minus reference.

    Attributes
    ----------
    positive, reference : object
        Group labels: the group of interest (e.g. ``"malignant"``) and the one it
        is compared with.
    groups : dict
        Label -> ``{"n", "mean", "median", "std", "q25", "q75"}`` (std with
        ``ddof=1``).
    tests : dict
        ``{"mannwhitneyu": {alt: {"statistic", "pvalue"}}, "ks": {...}}`` for
        ``alt`` in ``"two-sided"``, ``"less"`` (the positive group tends to be
        smaller) and ``"greater"``. Mann-Whitney's statistic is the positive
        group's U; KS's is ``sup |F_pos - F_ref|``, ``sup (F_pos - F_ref)`` for
        ``"less"`` and ``sup (F_ref - F_pos)`` for ``"greater"``. KS entries
        also say which p-value ``method`` scipy used ("exact" or "asymp":
        scipy falls back to the latter for large one-sided problems).
    effect_sizes : dict
        ``mean_difference``, ``median_difference``, ``cohens_d`` and
        ``cliffs_delta``.
    confidence_intervals : dict
        ``{"mean_difference": (low, high), "median_difference": (low, high)}``.
    confidence_level : float
    bootstrap_method : str
    n_resamples : int
    dominance : DominanceResult
        With ``x`` the positive group and ``y`` the reference.
    dominance_conclusion : str
        ``dominance.conclusion`` spelled with the labels, e.g. "benign dominates
        malignant".
    ecdf_gap : dict
        ``{"statistic", "location", "difference"}`` from :func:`largest_ecdf_gap`
        (difference = ``F_pos - F_ref`` at ``location``).
    value_name : str
    settings : dict
        Test options used (scipy methods), for the record.
    """

    positive: object
    reference: object
    groups: dict
    tests: dict
    effect_sizes: dict
    confidence_intervals: dict
    confidence_level: float
    bootstrap_method: str
    n_resamples: int
    dominance: DominanceResult
    dominance_conclusion: str
    ecdf_gap: dict
    value_name: str = "value"
    settings: dict = field(default_factory=dict)

    def to_dict(self):
        """Return every result as a JSON-serialisable dict.

        Returns
        -------
        result : dict
            Keys ``positive``, ``reference``, ``value_name``, ``groups``,
            ``tests``, ``effect_sizes``, ``confidence_intervals`` (with
            ``level``, ``method``, ``n_resamples``), ``dominance`` (hypotheses
            spelled out, statistics, p-values, conclusion), ``ecdf_gap``,
            ``settings``.
        """
        pos, ref = str(self.positive), str(self.reference)
        dom = self.dominance.to_dict()
        return {
            "positive": _jsonable(self.positive),
            "reference": _jsonable(self.reference),
            "value_name": self.value_name,
            "groups": {str(k): dict(v) for k, v in self.groups.items()},
            "tests": {
                name: {alt: dict(res) for alt, res in by_alt.items()}
                for name, by_alt in self.tests.items()
            },
            "effect_sizes": dict(self.effect_sizes),
            "confidence_intervals": {
                "level": self.confidence_level,
                "method": self.bootstrap_method,
                "n_resamples": self.n_resamples,
                **{k: [float(v[0]), float(v[1])] for k, v in self.confidence_intervals.items()},
            },
            "dominance": {
                "method": "Barrett-Donald (2003) KS-type sup statistics, pooled bootstrap",
                "null_1": f"F_{pos}(t) <= F_{ref}(t) for all t ({pos} dominates {ref})",
                "statistic_1": dom["statistic_xy"],
                "pvalue_1": dom["pvalue_xy"],
                "ks_pvalue_1": dom["ks_pvalue_xy"],
                "null_2": f"F_{ref}(t) <= F_{pos}(t) for all t ({ref} dominates {pos})",
                "statistic_2": dom["statistic_yx"],
                "pvalue_2": dom["pvalue_yx"],
                "ks_pvalue_2": dom["ks_pvalue_yx"],
                "alpha": dom["alpha"],
                "n_resamples": dom["n_resamples"],
                "conclusion": self.dominance_conclusion,
            },
            "ecdf_gap": dict(self.ecdf_gap),
            "settings": dict(self.settings),
        }

    def groups_frame(self):
        """Per-group summary as a :class:`pandas.DataFrame` (one row per group).

        Returns
        -------
        groups : pandas.DataFrame
            Index the group labels, columns ``n``, ``mean``, ``median``,
            ``std``, ``q25`` and ``q75``.
        """
        return pd.DataFrame.from_dict(self.groups, orient="index")

    def tests_frame(self):
        """Test results as a :class:`pandas.DataFrame` (one row per test and alternative).

        Returns
        -------
        tests : pandas.DataFrame
            Columns ``test``, ``alternative``, then the test's results
            (``statistic``, ``pvalue`` and, for KS, ``method``).
        """
        rows = [
            {"test": name, "alternative": alt, **res}
            for name, by_alt in self.tests.items()
            for alt, res in by_alt.items()
        ]
        return pd.DataFrame(rows)

    def __str__(self):
        pos, ref = str(self.positive), str(self.reference)
        width = max(len(pos), len(ref), 9)
        lines = [f"{self.value_name}: {pos} vs {ref}", ""]
        head = ["n", "mean", "median", "std", "q25", "q75"]
        lines.append(f"{'group':<{width}} {head[0]:>6} " + " ".join(f"{h:>7}" for h in head[1:]))
        for label in (self.reference, self.positive):
            g = self.groups[label]
            lines.append(
                f"{str(label):<{width}} {g['n']:>6d} {g['mean']:>7.3f} {g['median']:>7.3f} "
                f"{g['std']:>7.3f} {g['q25']:>7.3f} {g['q75']:>7.3f}"
            )
        lines += ["", f"Tests ({pos} against {ref}; 'less': {pos} tends to be smaller)"]
        names = {"mannwhitneyu": "Mann-Whitney U", "ks": "Kolmogorov-Smirnov"}
        lines.append(f"{'test':<20} {'alternative':<11} {'statistic':>11} {'p-value':>10}")
        for name, by_alt in self.tests.items():
            for alt, res in by_alt.items():
                lines.append(
                    f"{names[name]:<20} {alt:<11} {res['statistic']:>11.6g} {res['pvalue']:>10.2g}"
                )
        level = f"{100 * self.confidence_level:g}%"
        es, ci = self.effect_sizes, self.confidence_intervals
        lines += [
            "",
            f"Effect sizes ({pos} - {ref}; {level} {self.bootstrap_method} bootstrap CI, "
            f"{self.n_resamples} resamples)",
            f"  mean difference    {es['mean_difference']:+.4f}  "
            f"[{ci['mean_difference'][0]:+.4f}, {ci['mean_difference'][1]:+.4f}]",
            f"  median difference  {es['median_difference']:+.4f}  "
            f"[{ci['median_difference'][0]:+.4f}, {ci['median_difference'][1]:+.4f}]",
            f"  Cohen's d          {es['cohens_d']:+.4f}",
            f"  Cliff's delta      {es['cliffs_delta']:+.4f}",
            "",
            f"Largest ECDF gap: {self.ecdf_gap['statistic']:.4f} at "
            f"{self.ecdf_gap['location']:.4f} (F_{pos} - F_{ref} = "
            f"{self.ecdf_gap['difference']:+.4f})",
            "First-order stochastic dominance (Barrett-Donald, pooled bootstrap):",
            f"  H0: F_{pos} <= F_{ref} everywhere: p = {self.dominance.pvalue_xy:.2g} "
            f"(one-sided KS p = {self.dominance.ks_pvalue_xy:.2g})",
            f"  H0: F_{ref} <= F_{pos} everywhere: p = {self.dominance.pvalue_yx:.2g} "
            f"(one-sided KS p = {self.dominance.ks_pvalue_yx:.2g})",
            f"  conclusion at alpha = {self.dominance.alpha:g}: {self.dominance_conclusion}",
            f"  (bootstrap p-values are at least 1/{self.dominance.n_resamples + 1}: "
            f"{self.dominance.n_resamples} resamples)",
        ]
        return "\n".join(lines)

    def __repr__(self):
        return f"<GroupComparison\n{self}\n>"


def _split_groups(values, groups, positive):
    values_arr = np.asarray(values, dtype=float).ravel()
    groups_arr = np.asarray(groups, dtype=object).ravel()
    if len(values_arr) != len(groups_arr):
        raise ValueError(f"values has {len(values_arr)} entries but groups has {len(groups_arr)}")
    check_labels(groups_arr, "groups")
    labels = list(pd.unique(groups_arr))
    if len(labels) != 2:
        raise ValueError(
            f"compare_groups needs exactly two groups, got {len(labels)}: {labels[:10]}; "
            "select the two groups to compare first"
        )
    # Incomparable labels keep their order of appearance.
    with contextlib.suppress(TypeError):
        labels = sorted(labels)
    if positive is None:
        positive = labels[1]
    elif positive not in labels:
        raise ValueError(f"positive={positive!r} is not one of the groups {labels}")
    reference = labels[0] if positive == labels[1] else labels[1]
    samples = {}
    for label in labels:
        sample = values_arr[groups_arr == label]
        # Sorted: every result, to the last bit, is independent of sample order.
        samples[label] = np.sort(check_sample(sample, str(label)))
        if len(sample) < 2:
            raise ValueError(f"group {label!r} has {len(sample)} value(s); at least 2 are needed")
    return labels, positive, reference, samples


@Substitution(random_state=RANDOM_STATE_DOC)
def compare_groups(
    values,
    groups,
    *,
    positive=None,
    n_resamples=9999,
    confidence_level=0.95,
    bootstrap_method="BCa",
    alpha=0.05,
    use_continuity=True,
    ks_method="auto",
    value_name=None,
    random_state=None,
):
    """Compare a continuous value between two groups (e.g. IAA, malignant vs benign).

    Runs what the paper reports (Mann-Whitney U, two-sample Kolmogorov-Smirnov,
    Cohen's d) and what it leaves implicit: one-sided tests, Cliff's
    delta, bootstrap confidence intervals of the mean and median differences, the
    largest ECDF gap, and a first-order stochastic-dominance test.

    Parameters
    ----------
    values : array-like of shape (n_samples,)
        The outcome (no NaN: select the rows first, nothing is dropped here).
    groups : array-like of shape (n_samples,)
        Group label of each sample; exactly two distinct labels, none missing.
    positive : object, default=None
        The group of interest; differences and one-sided alternatives are
        phrased as positive against the other (reference) group. None takes the
        larger label in sorted order (``"malignant"`` over ``"benign"``, 1 over 0).
    n_resamples : int, default=9999
        Bootstrap resamples, for the confidence intervals and the dominance test.
    confidence_level : float, default=0.95
        Level of the bootstrap confidence intervals.
    bootstrap_method : {"BCa", "percentile", "basic"}, default="BCa"
        Interval method of :func:`scipy.stats.bootstrap`. Each group is resampled
        separately (stratified bootstrap).
    alpha : float, default=0.05
        Level of the dominance conclusion.
    use_continuity : bool, default=True
        Continuity correction of the Mann-Whitney normal approximation.
    ks_method : {"auto", "exact", "asymp"}, default="auto"
        p-value method of :func:`scipy.stats.ks_2samp`.
    value_name : str, default=None
        Name of the outcome for printing; ``values.name`` for a Series, else
        "value".
    random_state : int, RandomState instance or None, default=None
        Seed of the bootstrap intervals and of the dominance test's bootstrap.
        {random_state}

    Returns
    -------
    result : GroupComparison
        Per-group n/mean/median/std, tests, effect sizes, intervals, dominance;
        ``print(result)`` shows a table, ``result.to_dict()`` is JSON-ready.

    Raises
    ------
    ValueError
        If there are not exactly two groups, a label is missing, a value is NaN
        or infinite, a group has fewer than two values, ``positive`` is not a
        group, or ``values`` and ``groups`` differ in length.

    See Also
    --------
    stochastic_dominance_test : the dominance test, alone.
    plot_ecdf : the ECDF plot of the two groups.

    Notes
    -----
    Defaults reproduce the p-values of the paper's comparison on the IMA++
    tables (two-sided Mann-Whitney p = 1.7e-7, KS p = 6.3e-9):

    - Mann-Whitney U: :func:`scipy.stats.mannwhitneyu` with
      ``method="asymptotic"`` (normal approximation with tie correction). The
      exact distribution is not an option: it assumes no ties, and IAA values
      tie. The continuity correction changes the IMA++ p-value by 0.02%.
    - KS: :func:`scipy.stats.ks_2samp` with ``method="auto"`` (exact for
      samples up to 10,000, as on IMA++; ``"asymp"`` gives 6.34e-9 there).

    One-sided alternatives are those of ``mannwhitneyu(positive, reference)``:
    ``"less"`` means the positive group's values tend to be smaller, i.e. its
    ECDF lies above the reference's. For KS this is
    ``ks_2samp(positive, reference, alternative="greater")``, whose H1 is
    ``F_pos(t) > F_ref(t)`` for some t (scipy names the alternative after the
    CDF, not the values; see "scipy" in the development notes of the docs).

    Cohen's d uses the pooled standard deviation with each unbiased variance
    weighted by its degrees of freedom (see :func:`cohens_d`). Cliff's delta is
    ``P(pos > ref) - P(pos < ref)``.

    The bootstrap resamples each group in sorted order, so the result does not
    depend on the order of the samples and swapping ``positive`` negates the
    intervals (up to rounding) for a given ``random_state``.

    Examples
    --------
    >>> import numpy as np
    >>> from skiaa.stats import compare_groups
    >>> rng = np.random.default_rng(0)
    >>> values = np.r_[rng.beta(8, 2, 200), rng.beta(6, 2, 60)]
    >>> groups = np.array(["benign"] * 200 + ["malignant"] * 60)
    >>> res = compare_groups(values, groups, n_resamples=999, random_state=0)
    >>> res.positive, res.groups["malignant"]["n"]
    ('malignant', 60)
    >>> res.effect_sizes["mean_difference"] < 0, res.tests["mannwhitneyu"]["less"]["pvalue"] < 0.05
    (True, True)
    >>> sorted(res.to_dict())  # doctest: +NORMALIZE_WHITESPACE
    ['confidence_intervals', 'dominance', 'ecdf_gap', 'effect_sizes', 'groups', 'positive',
     'reference', 'settings', 'tests', 'value_name']
    """
    if value_name is None:
        value_name = str(getattr(values, "name", None) or "value")
    if not 0 < confidence_level < 1:
        raise ValueError(f"confidence_level must be in (0, 1), got {confidence_level}")
    if bootstrap_method not in ("BCa", "percentile", "basic"):
        raise ValueError(
            f"bootstrap_method must be 'BCa', 'percentile' or 'basic', got {bootstrap_method!r}"
        )
    if int(n_resamples) < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples}")
    n_resamples = int(n_resamples)
    labels, positive, reference, samples = _split_groups(values, groups, positive)
    pos, ref = samples[positive], samples[reference]

    tests = {"mannwhitneyu": {}, "ks": {}}
    for alt in _ALTERNATIVES:
        res = stats.mannwhitneyu(
            pos, ref, alternative=alt, method="asymptotic", use_continuity=use_continuity
        )
        tests["mannwhitneyu"][alt] = {
            "statistic": float(res.statistic),
            "pvalue": float(res.pvalue),
        }
    # Our "less" (positive smaller, F_pos above F_ref) is scipy's "greater" for KS.
    ks_alt = {"two-sided": "two-sided", "less": "greater", "greater": "less"}
    for alt in _ALTERNATIVES:
        res, used = _ks_2samp(pos, ref, ks_alt[alt], ks_method)
        tests["ks"][alt] = {
            "statistic": float(res.statistic),
            "pvalue": float(res.pvalue),
            "method": used,
        }

    effect_sizes = {
        "mean_difference": float(pos.mean() - ref.mean()),
        "median_difference": float(np.median(pos) - np.median(ref)),
        "cohens_d": cohens_d(pos, ref),
        "cliffs_delta": cliffs_delta(pos, ref),
    }

    rng = as_generator(random_state)
    boot_seed, dom_seed = rng.integers(0, 2**31 - 1, size=2)
    # Canonical order (labels sorted, values sorted within each group) makes the
    # resampling independent of sample order and of which group is positive.
    a, b = np.sort(samples[labels[0]]), np.sort(samples[labels[1]])
    sign = 1.0 if positive == labels[0] else -1.0
    intervals, interval_methods = {}, {}
    for key, func in [("mean_difference", np.mean), ("median_difference", np.median)]:

        def statistic(s0, s1, axis=-1, func=func):
            return sign * (func(s0, axis=axis) - func(s1, axis=axis))

        intervals[key], interval_methods[key] = _bootstrap_interval(
            (a, b), statistic, n_resamples, confidence_level, bootstrap_method, boot_seed
        )

    # Also run in canonical label order, then oriented as (positive, reference).
    dominance = stochastic_dominance_test(
        a, b, n_resamples=n_resamples, alpha=alpha, random_state=int(dom_seed)
    )
    if positive != labels[0]:
        dominance = dominance.swapped()
    conclusion = {
        "y dominates x": f"{reference} dominates {positive}",
        "x dominates y": f"{positive} dominates {reference}",
        "crossing": "ECDFs cross (neither dominates)",
        "inconclusive": "inconclusive (neither null rejected)",
    }[dominance.conclusion]
    gap, location, difference = largest_ecdf_gap(pos, ref)

    return GroupComparison(
        positive=positive,
        reference=reference,
        groups={label: _describe(samples[label]) for label in labels},
        tests=tests,
        effect_sizes=effect_sizes,
        confidence_intervals=intervals,
        confidence_level=float(confidence_level),
        bootstrap_method=bootstrap_method,
        n_resamples=n_resamples,
        dominance=dominance,
        dominance_conclusion=conclusion,
        ecdf_gap={"statistic": gap, "location": location, "difference": difference},
        value_name=value_name,
        settings={
            "mannwhitneyu": {"method": "asymptotic", "use_continuity": bool(use_continuity)},
            "ks_2samp": {"method": ks_method},
            "bootstrap_interval_methods": interval_methods,
        },
    )
