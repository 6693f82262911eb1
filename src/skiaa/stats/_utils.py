"""Input checks shared by the statistics functions."""

import numpy as np


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
