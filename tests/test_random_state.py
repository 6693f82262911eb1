"""``random_state`` means scikit-learn's ``check_random_state`` in every function.

None follows numpy's global random state (two calls in a row differ, and
``np.random.seed`` makes a run repeatable), an int gives the same draws on every
call, and a ``RandomState`` instance is consumed. Every public function of skiaa
that draws random numbers is listed in ``_DRAWS``.
"""

import numpy as np
import pytest
from sklearn.utils import check_random_state as sklearn_check_random_state

from skiaa.datasets import make_lesions
from skiaa.stats import compare_groups, stochastic_dominance_test
from skiaa.utils import as_generator, check_random_state, draw_seed

_rng = np.random.RandomState(12345)
_X = _rng.normal(0.80, 0.10, size=40)
_Y = _rng.normal(0.78, 0.12, size=30)


def _lesions(random_state):
    return make_lesions(2, image_size=16, n_masks=2, random_state=random_state).images


def _comparison(random_state):
    values = np.r_[_X, _Y]
    groups = np.array(["benign"] * len(_X) + ["malignant"] * len(_Y))
    res = compare_groups(values, groups, n_resamples=60, random_state=random_state)
    return np.array([bound for ci in res.confidence_intervals.values() for bound in ci])


def _dominance(random_state):
    res = stochastic_dominance_test(_X, _Y, n_resamples=400, random_state=random_state)
    return np.array([res.pvalue_xy, res.pvalue_yx])


def _generator(random_state):
    return as_generator(random_state).random(4)


def _seed(random_state):
    return np.array([draw_seed(random_state)])


_DRAWS = {
    "make_lesions": _lesions,
    "compare_groups": _comparison,
    "stochastic_dominance_test": _dominance,
    "as_generator": _generator,
    "draw_seed": _seed,
}
_params = pytest.mark.parametrize("draw", list(_DRAWS.values()), ids=list(_DRAWS))


def _equal(a, b):
    return np.array_equal(a, b, equal_nan=True)


@_params
def test_int_gives_equal_draws(draw):
    assert _equal(draw(3), draw(3))
    assert _equal(draw(np.int64(3)), draw(3))
    assert not _equal(draw(3), draw(4))


@_params
def test_none_twice_gives_different_draws_and_follows_the_global_seed(draw):
    np.random.seed(0)  # noqa: NPY002 - the global state is what None means
    first, second = draw(None), draw(None)
    assert not _equal(first, second)
    np.random.seed(0)  # noqa: NPY002
    assert _equal(draw(None), first)


@_params
def test_random_state_instance_is_consumed(draw):
    rs = np.random.RandomState(5)
    first, second = draw(rs), draw(rs)
    assert not _equal(first, second)
    # The first call saw the instance's state as it was: a fresh one repeats it.
    assert _equal(draw(np.random.RandomState(5)), first)


@_params
@pytest.mark.parametrize("bad", [np.random.default_rng(0), 1.5, True, -1, "0"], ids=repr)
def test_anything_else_is_refused(draw, bad):
    with pytest.raises(ValueError, match="random_state must be None, a non-negative int"):
        draw(bad)


def test_generator_is_refused_with_a_hint():
    with pytest.raises(ValueError, match=r"int\(rng.integers"):
        check_random_state(np.random.default_rng(0))


@pytest.mark.parametrize("seed", [None, 0, 7, np.random.RandomState(3)], ids=repr)
def test_check_random_state_is_scikit_learns(seed):
    if seed is None:
        assert check_random_state(None) is sklearn_check_random_state(None)
    elif isinstance(seed, np.random.RandomState):
        assert check_random_state(seed) is seed
    else:
        ours, theirs = check_random_state(seed), sklearn_check_random_state(seed)
        assert ours.randint(1000, size=5).tolist() == theirs.randint(1000, size=5).tolist()
