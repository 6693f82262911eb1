"""Checks of class labels shared by the statistics and the classifiers."""

import numpy as np


def _is_missing(value):
    # None, NaN and NaT differ from themselves; pandas.NA cannot say (its
    # comparison is NA, whose truth value raises): both are missing.
    if value is None:
        return True
    try:
        return bool(value != value)
    except (TypeError, ValueError):
        return True


def check_labels(labels, name):
    """Refuse missing labels (None, NaN) and labels mixing text and numbers.

    Both would otherwise fail deep inside a sort with "'<' not supported
    between instances of 'NoneType' and 'str'", which names neither the
    argument nor the sample.

    Parameters
    ----------
    labels : array-like
        Class labels (strings, numbers or booleans).
    name : str
        How messages name the argument (``"y"``, ``"groups"``).

    Returns
    -------
    labels : ndarray of object, 1-D
    """
    arr = np.asarray(labels, dtype=object).ravel()
    missing = np.fromiter((_is_missing(v) for v in arr), dtype=bool, count=arr.size)
    if missing.any():
        raise ValueError(
            f"{name} holds {int(missing.sum())} missing label(s) (None or NaN; first at "
            f"position {int(np.flatnonzero(missing)[0])}); drop or relabel those samples first"
        )
    is_text = np.fromiter((isinstance(v, (str, bytes)) for v in arr), dtype=bool, count=arr.size)
    if is_text.any() and not is_text.all():
        text, other = arr[is_text][0], arr[~is_text][0]
        raise ValueError(
            f"{name} mixes text and numeric labels (e.g. {text!r} at position "
            f"{int(np.flatnonzero(is_text)[0])} and {other!r} at position "
            f"{int(np.flatnonzero(~is_text)[0])}); use one type for all labels"
        )
    return arr
