"""Input checks that more than one layer needs: image sizes and path lists."""

import numbers
import os

import numpy as np


def is_path(obj):
    """True for one file path: a ``str`` or an ``os.PathLike``."""
    return isinstance(obj, (str, os.PathLike))


def is_path_sequence(X):
    """True when ``X`` is a non-empty list, tuple or 1-D array of file paths.

    A single path is not a sequence of paths (a string is iterable, but
    reading it character by character is never what was meant); an empty
    sequence is not one either, since nothing tells what it would hold.
    A pandas Series of paths (e.g. ``frame["image_path"]``) counts.
    """
    if is_path(X):
        return False
    if hasattr(X, "to_numpy") and getattr(X, "ndim", None) == 1:  # pandas Series/Index
        X = X.to_numpy()
    if isinstance(X, np.ndarray):
        if X.ndim != 1 or X.dtype.kind not in "USO":
            return False
    elif not isinstance(X, (list, tuple)):
        return False
    return len(X) > 0 and all(is_path(x) for x in X)


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_image_size(image_size, *, minimum=1, name="image_size"):
    """Validate an image size and return it as a ``(height, width)`` pair.

    Parameters
    ----------
    image_size : int or pair of int
        Side length of a square image, or ``(height, width)``.
    minimum : int, default=1
        Smallest allowed side.
    name : str, default="image_size"
        Name used in the error message.

    Returns
    -------
    (int, int)

    Raises
    ------
    ValueError
        If ``image_size`` is not an int or a pair of ints (floats and bools
        are refused rather than truncated), or a side is below ``minimum``.
    """
    if _is_int(image_size):
        size = (int(image_size), int(image_size))
    elif (
        isinstance(image_size, (tuple, list, np.ndarray))
        and len(image_size) == 2
        and all(_is_int(v) for v in image_size)
    ):
        size = (int(image_size[0]), int(image_size[1]))
    else:
        raise ValueError(
            f"{name} must be an int or a (height, width) pair of ints, got {image_size!r}"
        )
    if min(size) < minimum:
        raise ValueError(
            f"{name} must be at least {minimum} pixel(s) on each side, got {image_size!r}"
        )
    return size
