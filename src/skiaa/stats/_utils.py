"""Input checks shared by the statistics functions."""

import numbers

import numpy as np


def as_generator(random_state):
    """Turn ``random_state`` into a :class:`numpy.random.Generator`.

    None draws fresh OS entropy (never the global numpy RNG); an int seeds a new
    generator; a ``Generator`` is used as is; a legacy ``RandomState`` seeds a
    new generator from its stream.
    """
    if random_state is None or isinstance(random_state, (numbers.Integral, np.integer)):
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**32 - 1, dtype=np.uint64))
    raise ValueError(
        "random_state must be None, an int, a numpy Generator or RandomState; "
        f"got {random_state!r}"
    )


def check_sample(values, name):
    """1-D float array, non-empty, finite; the error names the sample."""
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0:
        raise ValueError(f"sample {name!r} is empty")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(
            f"sample {name!r} holds {int(bad.sum())} NaN or infinite value(s) "
            f"(first at position {int(np.flatnonzero(bad)[0])})"
        )
    return arr
