"""compare_groups and its effect sizes: references, invariances, directions, coverage."""

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from scipy import stats

from skiaa.stats import (
    cliffs_delta,
    cohens_d,
    compare_groups,
    largest_ecdf_gap,
)

# Values drawn from a small grid so that ties (as in real IAA) occur.
_values = st.lists(st.integers(0, 40).map(lambda v: v / 40), min_size=3, max_size=25)


def _two_groups(a, b, labels=("benign", "malignant")):
    values = np.r_[a, b]
    groups = np.array([labels[0]] * len(a) + [labels[1]] * len(b), dtype=object)
    return values, groups


@given(_values, _values)
def test_cliffs_delta_matches_brute_force(a, b):
    a, b = np.array(a), np.array(b)
    diff = a[:, None] - b[None, :]
    ref = (np.sum(diff > 0) - np.sum(diff < 0)) / diff.size
    assert cliffs_delta(a, b) == pytest.approx(ref, abs=1e-12)


@given(_values, _values)
def test_cohens_d_matches_formula(a, b):
    a, b = np.array(a), np.array(b)
    n, m = len(a), len(b)
    ss = np.sum((a - a.mean()) ** 2) + np.sum((b - b.mean()) ** 2)
    pooled = np.sqrt(ss / (n + m - 2))
    if pooled == 0:
        return
    assert cohens_d(a, b) == pytest.approx((a.mean() - b.mean()) / pooled, rel=1e-9)


def test_cohens_d_pools_by_degrees_of_freedom():
    # Unequal sizes: the naive sqrt((s1^2 + s2^2) / 2) would give another value.
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, 10), rng.normal(1, 3, 200)
    naive = (a.mean() - b.mean()) / np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    assert abs(cohens_d(a, b) - naive) > 0.05


@given(_values, _values)
def test_largest_gap_is_the_ks_statistic(a, b):
    gap, location, difference = largest_ecdf_gap(a, b)
    res = stats.ks_2samp(a, b, method="asymp")  # only the statistic is compared
    assert gap == pytest.approx(res.statistic, abs=1e-12)
    assert abs(difference) == pytest.approx(gap, abs=1e-12)
    fa = np.mean(np.array(a) <= location)
    fb = np.mean(np.array(b) <= location)
    assert fa - fb == pytest.approx(difference, abs=1e-12)


@given(_values, _values, st.randoms(use_true_random=False))
def test_invariant_to_sample_order(a, b, rnd):
    values, groups = _two_groups(a, b)
    perm = np.arange(len(values))
    rnd.shuffle(perm)
    kw = {"n_resamples": 99, "random_state": 1}
    first = compare_groups(values, groups, **kw).to_dict()
    second = compare_groups(values[perm], groups[perm], **kw).to_dict()
    # Through JSON so that NaN (Cohen's d of constant data) compares equal.
    assert json.dumps(first) == json.dumps(second)


def _approx(expected, **tolerance):
    # Constant samples give NaN statistics on both sides: still symmetric.
    return pytest.approx(expected, nan_ok=True, **tolerance)


@given(_values, _values)
@example([0.0, 0.0, 0.0], [0.0, 0.0, 0.0])  # found on py312: NaN on both sides
def test_symmetric_under_swapping_groups(a, b):
    values, groups = _two_groups(a, b)
    kw = {"n_resamples": 99, "random_state": 2, "bootstrap_method": "percentile"}
    r1 = compare_groups(values, groups, positive="malignant", **kw)
    r2 = compare_groups(values, groups, positive="benign", **kw)
    assert (r1.positive, r1.reference) == (r2.reference, r2.positive)
    for key, value in r1.effect_sizes.items():
        assert r2.effect_sizes[key] == _approx(-value, abs=1e-12)
    for test in ("mannwhitneyu", "ks"):
        t1, t2 = r1.tests[test], r2.tests[test]
        assert t2["two-sided"]["pvalue"] == _approx(t1["two-sided"]["pvalue"], rel=1e-9)
        assert t2["less"]["pvalue"] == _approx(t1["greater"]["pvalue"], rel=1e-9)
        assert t2["greater"]["pvalue"] == _approx(t1["less"]["pvalue"], rel=1e-9)
    for key, (low, high) in r1.confidence_intervals.items():
        assert r2.confidence_intervals[key] == _approx((-high, -low), abs=1e-12)
    d1, d2 = r1.dominance, r2.dominance
    assert (d2.pvalue_xy, d2.pvalue_yx) == (d1.pvalue_yx, d1.pvalue_xy)
    assert r2.ecdf_gap["difference"] == _approx(-r1.ecdf_gap["difference"], abs=1e-12)


def test_one_sided_directions_on_simulated_shift():
    # Malignant values are shifted down: "less" (malignant smaller) must reject,
    # "greater" must not, for both tests (scipy names KS alternatives after the CDF).
    rng = np.random.default_rng(0)
    values, groups = _two_groups(rng.normal(0.8, 0.1, 300), rng.normal(0.72, 0.1, 200))
    res = compare_groups(values, groups, positive="malignant", n_resamples=199, random_state=0)
    for test in ("mannwhitneyu", "ks"):
        assert res.tests[test]["less"]["pvalue"] < 1e-6
        assert res.tests[test]["greater"]["pvalue"] > 0.5
    # The malignant ECDF lies above: positive difference at the gap.
    assert res.ecdf_gap["difference"] > 0
    assert res.effect_sizes["mean_difference"] < 0 and res.effect_sizes["cliffs_delta"] < 0
    assert res.dominance_conclusion == "benign dominates malignant"
    # KS "less" is scipy's "greater" on (positive, reference): sup(F_pos - F_ref).
    mal, ben = values[groups == "malignant"], values[groups == "benign"]
    expected = stats.ks_2samp(mal, ben, alternative="greater")
    assert res.tests["ks"]["less"]["statistic"] == pytest.approx(expected.statistic)


def test_group_summaries_and_positive_default():
    values, groups = _two_groups([1.0, 2.0, 3.0, 10.0], [4.0, 5.0])
    res = compare_groups(values, groups, n_resamples=50, random_state=0)
    assert res.positive == "malignant" and res.reference == "benign"
    g = res.groups["benign"]
    assert (g["n"], g["mean"], g["median"]) == (4, 4.0, 2.5)
    assert g["std"] == pytest.approx(np.std([1, 2, 3, 10], ddof=1))
    assert res.effect_sizes["median_difference"] == pytest.approx(4.5 - 2.5)
    res = compare_groups(np.r_[values], np.r_[np.zeros(4), np.ones(2)], n_resamples=50)
    assert res.positive == 1.0


def test_bootstrap_ci_coverage_is_nominal():
    # 200 simulated studies with a known mean difference of -0.3: a 90% interval
    # should cover it about 90% of the time (binomial sd ~ 2.1%).
    rng = np.random.default_rng(12345)
    covered_mean = covered_median = 0
    n_sim = 200
    for i in range(n_sim):
        a, b = rng.normal(1.0, 1.0, 60), rng.normal(0.7, 1.5, 45)
        values, groups = _two_groups(a, b)
        res = compare_groups(values, groups, n_resamples=499, confidence_level=0.9, random_state=i)
        low, high = res.confidence_intervals["mean_difference"]
        covered_mean += low <= -0.3 <= high
        low, high = res.confidence_intervals["median_difference"]
        covered_median += low <= -0.3 <= high
    assert 0.84 <= covered_mean / n_sim <= 0.96
    # Median intervals of small samples are coarser; still near nominal.
    assert 0.80 <= covered_median / n_sim <= 0.98


def test_degenerate_data_falls_back_to_percentile():
    values, groups = _two_groups([0.5] * 5, [0.5] * 4)
    res = compare_groups(values, groups, n_resamples=99, random_state=0)
    assert res.confidence_intervals["mean_difference"] == (0.0, 0.0)
    assert res.settings["bootstrap_interval_methods"]["mean_difference"].startswith("percentile")


def test_int_seed_leaves_global_rng_untouched():
    rng = np.random.default_rng(0)
    values, groups = _two_groups(rng.normal(size=30), rng.normal(size=20))
    state = np.random.get_state()[1].copy()  # noqa: NPY002 - checking the global RNG
    r1 = compare_groups(values, groups, n_resamples=99, random_state=7)
    r2 = compare_groups(values, groups, n_resamples=99, random_state=7)
    r3 = compare_groups(values, groups, n_resamples=99, random_state=8)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # noqa: NPY002
    assert r1.confidence_intervals == r2.confidence_intervals
    assert r1.confidence_intervals != r3.confidence_intervals


def test_to_dict_is_json_and_str_is_a_table():
    rng = np.random.default_rng(0)
    values, groups = _two_groups(rng.normal(size=30), rng.normal(size=20))
    labels = np.where(groups == "benign", 0, 1)
    res = compare_groups(values, labels, n_resamples=99, random_state=0)
    data = json.loads(json.dumps(res.to_dict()))
    assert set(data["groups"]) == {"0", "1"}
    assert data["tests"]["mannwhitneyu"]["two-sided"]["pvalue"] == pytest.approx(
        stats.mannwhitneyu(values[groups == "malignant"], values[groups == "benign"]).pvalue
    )
    assert "F_1(t) <= F_0(t)" in data["dominance"]["null_1"]
    text = str(res)
    assert "Mann-Whitney U" in text and "Cohen's d" in text and "Cliff's delta" in text
    assert repr(res).startswith("<GroupComparison")
    assert list(res.groups_frame().index) == [0, 1]
    tests = res.tests_frame()
    assert len(tests) == 6
    assert list(tests.columns[:2]) == ["test", "alternative"]
    assert set(tests["alternative"]) == {"two-sided", "less", "greater"}
    # A numpy label chosen as positive is written as a plain number.
    chosen = compare_groups(values, labels, positive=np.int64(0), n_resamples=99, random_state=0)
    data = json.loads(json.dumps(chosen.to_dict()))
    assert (data["positive"], data["reference"]) == (0, 1)
    assert all(
        type(v) is float for v in chosen.dominance.to_dict().values() if isinstance(v, float)
    )


@pytest.mark.parametrize(
    "positive, reference",
    [("x", "y"), ("malignant-nodular", "benign"), ("b", "superficial-spreading")],
)
def test_str_aligns_the_group_rows_under_their_header_whatever_the_labels(positive, reference):
    rng = np.random.default_rng(1)
    values = np.r_[rng.normal(size=12), rng.normal(1, size=9)]
    groups = np.array([reference] * 12 + [positive] * 9, dtype=object)
    res = compare_groups(values, groups, positive=positive, n_resamples=99, random_state=0)
    lines = str(res).splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("group"))
    rows = lines[head : head + 3]
    assert [row.split()[0] for row in rows] == ["group", reference, positive]
    assert len({len(row) for row in rows}) == 1  # one column width for the labels
    assert len(rows[0]) == max(len(positive), len(reference), 9) + 1 + 6 + 5 * 8
    tests = lines.index(next(line for line in lines if line.startswith("Tests (")))
    assert lines[tests - 1] == ""  # a blank line between the blocks


@pytest.mark.parametrize(
    ("values", "groups", "kwargs", "match"),
    [
        ([1, 2, 3, 4, 5, 6], list("aabbcc"), {}, "exactly two groups, got 3"),
        ([1, 2, np.nan, 4], list("aabb"), {}, "NaN"),
        ([1, 2, 3, 4], ["a", "a", None, "b"], {}, "missing label"),
        ([1, 2, 3, 4], list("aabb"), {"positive": "c"}, "positive='c'"),
        ([1, 2, 3], list("aab"), {}, "group 'b' has 1 value"),
        ([1, 2, 3], list("aabb"), {}, "3 entries but groups has 4"),
        ([1, 2, 3, 4], list("aabb"), {"bootstrap_method": "bad"}, "bootstrap_method"),
        ([1, 2, 3, 4], list("aabb"), {"confidence_level": 95}, "confidence_level"),
        ([1, 2, 3, 4], list("aabb"), {"random_state": "x"}, "random_state"),
    ],
)
def test_errors(values, groups, kwargs, match):
    with pytest.raises(ValueError, match=match):
        compare_groups(values, groups, n_resamples=10, **kwargs)


def test_acceptance_on_real_tables(imaplusplus_dir):
    from skiaa.datasets import load_imaplusplus

    images = load_imaplusplus(imaplusplus_dir)
    images = images[~images["is_indeterminate"]]
    res = compare_groups(
        images["iaa"], images["diagnosis"].astype(str), n_resamples=999, random_state=0
    )
    # Figures of the paper, rounded as published.
    assert res.groups["benign"]["n"] == 1880 and res.groups["malignant"]["n"] == 505
    assert round(res.groups["benign"]["mean"], 3) == 0.802
    assert round(res.groups["malignant"]["mean"], 3) == 0.756
    assert f"{res.tests['mannwhitneyu']['two-sided']['pvalue']:.1e}" == "1.7e-07"
    assert f"{res.tests['ks']['two-sided']['pvalue']:.1e}" == "6.3e-09"
    assert res.tests["ks"]["two-sided"]["method"] == "exact"
    assert res.dominance_conclusion == "benign dominates malignant"
    assert res.ecdf_gap["difference"] > 0  # malignant ECDF above benign


def test_dict_and_report_carry_every_result_under_its_name():
    rng = np.random.default_rng(1)
    values, groups = _two_groups(rng.normal(size=30), rng.normal(0.5, size=20))
    res = compare_groups(values, groups, n_resamples=99, random_state=0, value_name="IAA")
    pos, ref = "malignant", "benign"
    assert (res.positive, res.reference) == (pos, ref)
    dom = res.dominance
    assert res.to_dict() == {
        "positive": pos,
        "reference": ref,
        "value_name": "IAA",
        "groups": {k: dict(v) for k, v in res.groups.items()},
        "tests": res.tests,
        "effect_sizes": res.effect_sizes,
        "confidence_intervals": {
            "level": res.confidence_level,
            "method": res.bootstrap_method,
            "n_resamples": 99,
            **{k: [lo, hi] for k, (lo, hi) in res.confidence_intervals.items()},
        },
        "dominance": {
            "method": "Barrett-Donald (2003) KS-type sup statistics, pooled bootstrap",
            "null_1": f"F_{pos}(t) <= F_{ref}(t) for all t ({pos} dominates {ref})",
            "statistic_1": dom.statistic_xy,
            "pvalue_1": dom.pvalue_xy,
            "ks_pvalue_1": dom.ks_pvalue_xy,
            "null_2": f"F_{ref}(t) <= F_{pos}(t) for all t ({ref} dominates {pos})",
            "statistic_2": dom.statistic_yx,
            "pvalue_2": dom.pvalue_yx,
            "ks_pvalue_2": dom.ks_pvalue_yx,
            "alpha": dom.alpha,
            "n_resamples": dom.n_resamples,
            "conclusion": res.dominance_conclusion,
        },
        "ecdf_gap": res.ecdf_gap,
        "settings": res.settings,
    }
    # The report: every number is the attribute's, in its row, with its label.
    lines = str(res).splitlines()
    assert lines[:3] == [
        "IAA: malignant vs benign",
        "",
        "group          n    mean  median     std     q25     q75",
    ]
    for line, label in zip(lines[3:5], (ref, pos)):
        g = res.groups[label]
        assert line.split() == [
            label,
            str(g["n"]),
            *(f"{g[k]:.3f}" for k in ("mean", "median", "std", "q25", "q75")),
        ]
    assert lines[6] == "Tests (malignant against benign; 'less': malignant tends to be smaller)"
    assert lines[7].split() == ["test", "alternative", "statistic", "p-value"]
    names = {"mannwhitneyu": ["Mann-Whitney", "U"], "ks": ["Kolmogorov-Smirnov"]}
    rows = [
        [*names[name], alt, f"{r['statistic']:.6g}", f"{r['pvalue']:.2g}"]
        for name, by_alt in res.tests.items()
        for alt, r in by_alt.items()
    ]
    assert [line.split() for line in lines[8 : 8 + len(rows)]] == rows
    es, ci = res.effect_sizes, res.confidence_intervals
    level = f"{100 * res.confidence_level:g}%"
    assert lines[8 + len(rows) :] == [
        "",
        f"Effect sizes (malignant - benign; {level} {res.bootstrap_method} bootstrap CI, "
        "99 resamples)",
        f"  mean difference    {es['mean_difference']:+.4f}  "
        f"[{ci['mean_difference'][0]:+.4f}, {ci['mean_difference'][1]:+.4f}]",
        f"  median difference  {es['median_difference']:+.4f}  "
        f"[{ci['median_difference'][0]:+.4f}, {ci['median_difference'][1]:+.4f}]",
        f"  Cohen's d          {es['cohens_d']:+.4f}",
        f"  Cliff's delta      {es['cliffs_delta']:+.4f}",
        "",
        f"Largest ECDF gap: {res.ecdf_gap['statistic']:.4f} at {res.ecdf_gap['location']:.4f} "
        f"(F_malignant - F_benign = {res.ecdf_gap['difference']:+.4f})",
        "First-order stochastic dominance (Barrett-Donald, pooled bootstrap):",
        f"  H0: F_malignant <= F_benign everywhere: p = {dom.pvalue_xy:.2g} "
        f"(one-sided KS p = {dom.ks_pvalue_xy:.2g})",
        f"  H0: F_benign <= F_malignant everywhere: p = {dom.pvalue_yx:.2g} "
        f"(one-sided KS p = {dom.ks_pvalue_yx:.2g})",
        f"  conclusion at alpha = {dom.alpha:g}: {res.dominance_conclusion}",
        f"  (bootstrap p-values are at least 1/{dom.n_resamples + 1}: "
        f"{dom.n_resamples} resamples)",
    ]


def test_ks_records_the_p_value_method_scipy_used():
    from skiaa.stats._compare import _ks_2samp

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=30), rng.normal(0.5, size=25)
    for method in ("exact", "asymp"):
        res, used = _ks_2samp(x, y, "two-sided", method)
        assert used == method
        assert res.pvalue == stats.ks_2samp(x, y, method=method).pvalue
    # scipy's "auto": exact up to 10,000 values per sample, asymptotic above.
    assert _ks_2samp(x, y, "two-sided", "auto")[1] == "exact"
    big = rng.normal(size=10_001)
    assert _ks_2samp(big, y, "two-sided", "auto")[1] == "asymp"
    assert _ks_2samp(big, y, "two-sided", "exact")[1] == "exact"  # asked for: exact


def test_ks_fallback_to_the_asymptotic_p_value_is_recorded_and_not_warned(monkeypatch):
    # scipy switches an exact p-value it cannot compute to the asymptotic one
    # with a RuntimeWarning: recorded as "asymp", that warning swallowed, others kept.
    import warnings

    from skiaa.stats import _compare

    real = stats.ks_2samp

    def switching(x, y, alternative, method):
        warnings.warn("ks_2samp: Exact calculation unsuccessful. Switching to method=asymp.",
                      RuntimeWarning, stacklevel=2)  # fmt: skip
        warnings.warn("another warning", UserWarning, stacklevel=2)
        return real(x, y, alternative=alternative, method="asymp")

    monkeypatch.setattr(_compare.stats, "ks_2samp", switching)
    x, y = np.arange(12.0), np.arange(9.0) + 0.5
    with pytest.warns(UserWarning, match="another warning") as caught:
        res, used = _compare._ks_2samp(x, y, "less", "exact")
    assert used == "asymp"
    assert not [w for w in caught if "Switching" in str(w.message)]
    assert res.pvalue == real(x, y, alternative="less", method="asymp").pvalue

    def warning_only(x, y, alternative, method):
        warnings.warn("another warning", UserWarning, stacklevel=2)
        return real(x, y, alternative=alternative, method=method)

    monkeypatch.setattr(_compare.stats, "ks_2samp", warning_only)
    with pytest.warns(UserWarning, match="another warning"):
        assert _compare._ks_2samp(x, y, "less", "exact")[1] == "exact"  # no switch: exact
    monkeypatch.setattr(_compare.stats, "ks_2samp", real)
    assert _compare._ks_2samp(np.arange(10_000.0), y, "two-sided", "auto")[1] == "exact"


@pytest.mark.parametrize("method", ["BCa", "percentile"])
def test_bootstrap_interval_is_scipys_with_the_asked_resamples_and_level(method):
    from skiaa.stats._compare import _BOOTSTRAP_RNG, _bootstrap_interval

    rng = np.random.default_rng(3)
    data = (rng.normal(size=15), rng.normal(0.4, size=11))

    def statistic(a, b, axis=-1):
        return np.mean(a, axis=axis) - np.mean(b, axis=axis)

    interval, used = _bootstrap_interval(data, statistic, 199, 0.9, method, 7)
    seed = {_BOOTSTRAP_RNG: np.random.default_rng(7)}
    want = stats.bootstrap(
        data, statistic, n_resamples=199, confidence_level=0.9, method=method, **seed
    )
    assert used == method
    assert interval == pytest.approx(
        (want.confidence_interval.low, want.confidence_interval.high), rel=1e-12
    )


def test_degenerate_bootstrap_falls_back_to_percentile_without_a_warning():
    import warnings

    from skiaa.stats._compare import _bootstrap_interval

    def statistic(a, b, axis=-1):
        return np.median(a, axis=axis) - np.median(b, axis=axis)

    data = (np.full(6, 0.5), np.full(5, 0.25))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy's BCa and degrees-of-freedom warnings kept in
        interval, used = _bootstrap_interval(data, statistic, 99, 0.95, "BCa", 0)
    assert interval == (0.25, 0.25)
    assert used == "percentile (BCa undefined: degenerate jackknife)"


def test_groups_of_incomparable_labels_keep_their_order_and_errors_name_the_group():
    values = np.r_[np.arange(4.0), np.arange(3.0) + 0.5]
    res = compare_groups(values, [2j] * 4 + [1 + 0j] * 3, n_resamples=99, random_state=0)
    assert (res.reference, res.positive) == (2j, 1 + 0j)  # complex numbers do not sort
    with pytest.raises(ValueError) as exc:
        compare_groups([0.1, np.nan, 0.3, 0.4], ["x", "x", "y", "y"])
    assert str(exc.value) == "sample 'x' holds 1 NaN or infinite value(s) (first at position 1)"
    with pytest.raises(ValueError) as exc:
        compare_groups([1, 2, 3, 4], ["a", "a", None, "b"])
    assert str(exc.value) == (
        "groups holds 1 missing label(s) (None or NaN; first at position 2); "
        "drop or relabel those samples first"
    )


@pytest.mark.parametrize("func", [cohens_d, cliffs_delta, largest_ecdf_gap])
def test_effect_sizes_name_the_sample_that_holds_a_nan(func):
    for x, y, name, position in (([1, np.nan], [1, 2], "x", 1), ([1, 2], [np.inf, 2], "y", 0)):
        with pytest.raises(ValueError) as exc:
            func(x, y)
        assert str(exc.value) == (
            f"sample {name!r} holds 1 NaN or infinite value(s) (first at position {position})"
        )


def test_cohens_d_of_one_value_in_a_group_pools_the_other_groups_spread():
    import warnings

    # One value: no spread of its own, (n - 1) * var = 0; three values in all is enough.
    assert cohens_d([1.0, 3.0], [5.0]) == pytest.approx((2.0 - 5.0) / np.sqrt(2.0))
    assert cohens_d([5.0], [1.0, 3.0]) == pytest.approx((5.0 - 2.0) / np.sqrt(2.0))
    assert cohens_d([1.0, 2.0, 6.0], [1.0, 3.0]) == pytest.approx(
        (3.0 - 2.0) / np.sqrt((2 * np.var([1, 2, 6], ddof=1) + np.var([1, 3], ddof=1)) / 3)
    )
    with pytest.raises(ValueError, match="more than two values in total"):
        cohens_d([1.0], [2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no spread at all: inf or NaN, without a warning
        assert cohens_d([1.0, 1.0], [2.0, 2.0]) == -np.inf
        assert np.isnan(cohens_d([1.0, 1.0], [1.0, 1.0]))


@pytest.mark.parametrize("func", [cliffs_delta, cohens_d, largest_ecdf_gap])
def test_samples_of_python_objects_or_integers_are_read_as_floats(func):
    # A pandas column of object dtype (a CSV column cleaned by hand) or integer
    # counts: the same effect size as the float values.
    x, y = [0.91, 0.85, 0.88, 0.79, 0.93], [0.7, 0.75, 0.81, 0.68]
    want = func(x, y)
    assert func(pd.Series(x, dtype=object), np.array(y, dtype=object)) == want
    assert func([3, 1, 2, 2], [0, 1, 0]) == func([3.0, 1.0, 2.0, 2.0], [0.0, 1.0, 0.0])
