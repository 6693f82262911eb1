"""The first-order stochastic-dominance test."""

import numpy as np
import pytest
from scipy import stats

from skiaa.stats import stochastic_dominance_test
from skiaa.stats._dominance import _BATCH


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


def _sups(x, y):
    """``sup(F_x - F_y)`` and ``sup(F_y - F_x)``, from the ECDFs as defined."""
    grid = np.concatenate([x, y])
    fx = (x[None, :] <= grid[:, None]).mean(axis=1)
    fy = (y[None, :] <= grid[:, None]).mean(axis=1)
    return max((fx - fy).max(), 0.0), max((fy - fx).max(), 0.0)


@pytest.mark.parametrize("n_resamples", [299, 2 * _BATCH + 1])
def test_both_pvalues_from_the_same_draws_with_unequal_sizes(n_resamples):
    # Each p-value must count its own direction's bootstrap statistics. With
    # unequal sizes the two directions' distributions differ, so taking one
    # direction's p-value from the other's draws changes it. The draws are
    # redone here as documented: the pooled sample sorted, then per batch of
    # at most _BATCH resamples, n indices for x and m for y per resample, from
    # the generator seeded by random_state (2 * _BATCH + 1: a last batch of one).
    rng = np.random.default_rng(7)
    x, y = rng.normal(0.0, 1.0, 23), np.round(rng.normal(0.1, 1.0, 61), 1)
    res = stochastic_dominance_test(x, y, n_resamples=n_resamples, random_state=11)
    pooled = np.sort(np.concatenate([x, y]))
    draws = np.random.default_rng(11)
    boot = []
    for start in range(0, n_resamples, _BATCH):
        b = min(_BATCH, n_resamples - start)
        ix = draws.integers(0, len(pooled), size=(b, len(x)))
        iy = draws.integers(0, len(pooled), size=(b, len(y)))
        boot += [_sups(pooled[i], pooled[j]) for i, j in zip(ix, iy)]
    boot = np.array(boot)
    assert boot.shape == (n_resamples, 2)
    sup_xy, sup_yx = _sups(x, y)
    expected_xy = (1 + np.sum(boot[:, 0] >= sup_xy - 1e-12)) / (1 + n_resamples)
    expected_yx = (1 + np.sum(boot[:, 1] >= sup_yx - 1e-12)) / (1 + n_resamples)
    assert 0.01 < expected_xy < 0.99 and 0.01 < expected_yx < 0.99  # both informative
    assert res.pvalue_xy == expected_xy
    assert res.pvalue_yx == expected_yx
    # Counted from the other direction's draws, the answers would differ.
    assert np.sum(boot[:, 0] >= sup_yx - 1e-12) != np.sum(boot[:, 1] >= sup_yx - 1e-12)


def test_swapped_and_errors():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=40), rng.normal(0.8, size=25)
    res = stochastic_dominance_test(x, y, n_resamples=199, random_state=0)
    assert res.conclusion == "y dominates x" and res.statistic_xy != res.statistic_yx
    swapped = res.swapped()
    assert swapped.conclusion == "x dominates y"
    assert (swapped.statistic_xy, swapped.statistic_yx) == (res.statistic_yx, res.statistic_xy)
    assert (swapped.pvalue_xy, swapped.pvalue_yx) == (res.pvalue_yx, res.pvalue_xy)
    assert (swapped.ks_pvalue_xy, swapped.ks_pvalue_yx) == (res.ks_pvalue_yx, res.ks_pvalue_xy)
    assert (swapped.alpha, swapped.n_resamples) == (res.alpha, res.n_resamples)
    # It is the test run the other way round, up to the bootstrap draws.
    direct = stochastic_dominance_test(y, x, n_resamples=199, random_state=0)
    assert direct.conclusion == swapped.conclusion
    assert direct.statistic_xy == pytest.approx(swapped.statistic_xy)
    assert direct.statistic_yx == pytest.approx(swapped.statistic_yx)
    assert direct.ks_pvalue_xy == pytest.approx(swapped.ks_pvalue_xy)
    assert swapped.swapped() == res
    assert swapped.to_dict() == {**res.to_dict(), **{
        "statistic_xy": res.statistic_yx, "statistic_yx": res.statistic_xy,
        "pvalue_xy": res.pvalue_yx, "pvalue_yx": res.pvalue_xy,
        "ks_pvalue_xy": res.ks_pvalue_yx, "ks_pvalue_yx": res.ks_pvalue_xy,
        "conclusion": "x dominates y",
    }}  # fmt: skip
    # Conclusions without a direction read the same both ways.
    wide, narrow = rng.normal(0, 3, 300), rng.normal(0, 0.3, 300)
    crossing = stochastic_dominance_test(wide, narrow, n_resamples=199, random_state=0)
    assert crossing.conclusion == crossing.swapped().conclusion == "crossing"
    same = stochastic_dominance_test(x, x + 1e-3, n_resamples=99, random_state=0)
    assert same.conclusion == same.swapped().conclusion == "inconclusive"
    with pytest.raises(ValueError, match="'y' is empty"):
        stochastic_dominance_test([1, 2], [])
    with pytest.raises(ValueError, match="alpha"):
        stochastic_dominance_test([1, 2], [3, 4], alpha=1.5)
    with pytest.raises(ValueError, match="n_resamples"):
        stochastic_dominance_test([1, 2], [3, 4], n_resamples=0)
