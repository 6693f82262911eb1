"""The one meaning of ``random_state`` in skiaa: scikit-learn's.

Every public function and estimator of skiaa that draws random numbers takes a
``random_state`` and resolves it here, so that the same value means the same
thing everywhere (see "Random state" in docs/development.rst):

- ``None``: numpy's global random state (``np.random.seed`` makes a run
  repeatable; two calls in a row give different draws);
- an int: a fresh, reproducible stream (the same int, the same draws);
- a :class:`numpy.random.RandomState`: used and advanced, so that two calls
  sharing one instance give different draws.

This is :func:`sklearn.utils.check_random_state`. A
:class:`numpy.random.Generator` is refused, as scikit-learn refuses it: a
second meaning would make ``random_state`` mean different things in
``make_lesions`` and in ``GridSearchCV``.
"""

import numbers

import numpy as np
from sklearn.utils import check_random_state as _sklearn_check_random_state

_INT32_MAX = np.iinfo(np.int32).max


def check_random_state(random_state):
    """Turn ``random_state`` into a :class:`numpy.random.RandomState`.

    Parameters
    ----------
    random_state : int, numpy.random.RandomState or None
        As in scikit-learn: None is numpy's global random state, an int seeds
        a new ``RandomState``, a ``RandomState`` is returned as is.

    Returns
    -------
    numpy.random.RandomState

    Raises
    ------
    ValueError
        For anything else (a numpy ``Generator``, a float, a bool, a
        negative int); the message says what is accepted.
    """
    if isinstance(random_state, (bool, np.random.Generator)):
        raise ValueError(_message(random_state))
    try:
        return _sklearn_check_random_state(random_state)
    except ValueError as exc:
        raise ValueError(_message(random_state)) from exc


def _message(random_state):
    hint = ""
    if isinstance(random_state, np.random.Generator):
        hint = (
            " skiaa follows scikit-learn, which does not take numpy Generators: pass "
            "an int drawn from it, e.g. random_state=int(rng.integers(2**31 - 1))."
        )
    return (
        "random_state must be None, a non-negative int or a numpy.random.RandomState "
        f"instance, got {random_state!r}.{hint}"
    )


def draw_seed(random_state):
    """One int seed in ``[0, 2**31 - 1)`` drawn from ``random_state``.

    For seeding what does not take a ``RandomState`` (torch, a numpy
    ``Generator``, scipy's ``rng``). A ``RandomState`` is advanced by one draw.

    Parameters
    ----------
    random_state : int, numpy.random.RandomState or None
        See :func:`check_random_state`.

    Returns
    -------
    int
    """
    return int(check_random_state(random_state).randint(_INT32_MAX))


def as_generator(random_state):
    """A :class:`numpy.random.Generator` following ``random_state``.

    An int seeds the generator with that int itself (so results for an int
    seed are those of ``np.random.default_rng(seed)``); None and a
    ``RandomState`` seed it with one draw from that state, which is consumed.

    Parameters
    ----------
    random_state : int, numpy.random.RandomState or None
        See :func:`check_random_state`.

    Returns
    -------
    numpy.random.Generator
    """
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        check_random_state(random_state)  # same validation (non-negative, < 2**32)
        return np.random.default_rng(int(random_state))
    return np.random.default_rng(draw_seed(random_state))
