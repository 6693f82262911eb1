"""Warnings attributed to the user's line, however deep skiaa raised them."""

import os
import sys
import warnings

import joblib
import sklearn

# Frames in these packages are skipped: skiaa's own, and the scikit-learn and
# joblib machinery between a user's ``fit`` or ``GridSearchCV.fit`` and skiaa.
_INTERNAL = tuple(
    os.path.dirname(os.path.abspath(path)) + os.sep
    for path in (os.path.dirname(__file__), sklearn.__file__, joblib.__file__)
)


def warn_caller(message, category=UserWarning):
    """``warnings.warn`` with the stack level of the first frame outside skiaa.

    A fixed ``stacklevel`` points at a different frame for each call path
    (a subclass's ``fit``, scikit-learn's ``_fit_context`` wrapper,
    ``GridSearchCV``); the warning should name the line the user wrote.

    Parameters
    ----------
    message : str
        The warning's text.
    category : type of Warning, default=UserWarning
        The warning's class.
    """
    frame, level = sys._getframe(1), 2  # level 1 is this function
    while frame is not None and frame.f_code.co_filename.startswith(_INTERNAL):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
