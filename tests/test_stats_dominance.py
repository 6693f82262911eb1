"""The first-order stochastic-dominance test."""

import numpy as np
import pytest
from scipy import stats

from skiaa.stats import stochastic_dominance_test


def test_directions_and_conclusions():
    rng = np.random.default_rng(0)
    low, high = rng.normal(0, 1, 200), rng.normal(0.6, 1, 200)
    res = stochastic_dominance_test(low, high, n_resamples=499, random_state=0)
    # F_low lies above F_high: H0_xy (F_low <= F_high everywhere) is false.
    assert res.pvalue_xy < 0.01 and res.pvalue_yx > 0.1
    assert res.conclusion == "y dominates x"
    assert stochastic_dominance_test(high, low, n_resamples=499, random_state=0).conclusion == (
        "x dominates y"
    )
    # Crossing CDFs: same mean, very different spread.
    wide, narrow = rng.normal(0, 3, 400), rng.normal(0, 0.3, 400)
    res = stochastic_dominance_test(wide, narrow, n_resamples=499, random_state=0)
    assert res.conclusion == "crossing"


def test_statistics_match_scipy_one_sided_ks():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=50), rng.normal(0.3, size=70)
    res = stochastic_dominance_test(x, y, n_resamples=99, random_state=0)
    scale = np.sqrt(50 * 70 / 120)
    ks = stats.ks_2samp(x, y, alternative="greater")
    assert res.statistic_xy == pytest.approx(scale * ks.statistic)
    assert res.ks_pvalue_xy == pytest.approx(ks.pvalue)
    ks = stats.ks_2samp(y, x, alternative="greater")
    assert res.statistic_yx == pytest.approx(scale * ks.statistic)


def test_size_under_the_null_is_controlled():
    # Same distribution (the least favourable null): rejections near alpha.
    rng = np.random.default_rng(2)
    rejections = 0
    n_sim = 150
    for i in range(n_sim):
        x, y = rng.beta(5, 2, 40), rng.beta(5, 2, 30)
        res = stochastic_dominance_test(x, y, n_resamples=199, random_state=i)
        rejections += res.pvalue_xy <= 0.05
    assert rejections / n_sim <= 0.10


def test_ties_and_pvalue_bounds():
    x = np.repeat([0.5, 0.7, 0.9], 20)
    res = stochastic_dominance_test(x, x.copy(), n_resamples=199, random_state=0)
    assert res.statistic_xy == 0 and res.statistic_yx == 0
    assert res.pvalue_xy == 1.0 and res.pvalue_yx == 1.0
    assert res.conclusion == "inconclusive"
    # The smallest attainable p-value is 1 / (1 + n_resamples).
    res = stochastic_dominance_test(np.zeros(30), np.ones(30), n_resamples=99, random_state=0)
    assert res.pvalue_xy == pytest.approx(0.01)


def test_swapped_and_errors():
    rng = np.random.default_rng(3)
    res = stochastic_dominance_test(rng.normal(size=20), rng.normal(size=20), n_resamples=9)
    assert res.swapped().swapped() == res
    with pytest.raises(ValueError, match="'y' is empty"):
        stochastic_dominance_test([1, 2], [])
    with pytest.raises(ValueError, match="alpha"):
        stochastic_dominance_test([1, 2], [3, 4], alpha=1.5)
    with pytest.raises(ValueError, match="n_resamples"):
        stochastic_dominance_test([1, 2], [3, 4], n_resamples=0)
