"""Helpers shared by several test modules (test modules never import each other).

Imported as ``from _helpers import ...``: pytest puts ``tests/`` on ``sys.path``
(rootdir-relative, no ``__init__.py``), as it does for ``conftest.py``.
"""

import importlib
import importlib.util
import inspect

import numpy as np

# Public modules with an ``__all__``; those not written yet are skipped by name.
PUBLIC_MODULES = [
    "skiaa",
    "skiaa.agreement",
    "skiaa.consensus",
    "skiaa.transformers",
    "skiaa.datasets",
    "skiaa.stats",
    "skiaa.nets",
    "skiaa.losses",
    "skiaa.estimators",
    "skiaa.study",
]


def existing_public_modules():
    """The names of :data:`PUBLIC_MODULES` that exist in this checkout."""
    return [m for m in PUBLIC_MODULES if m == "skiaa" or importlib.util.find_spec(m) is not None]


def public_functions_and_classes(module_name):
    """``(qualified name, object)`` of each function and class in ``__all__``."""
    module = importlib.import_module(module_name)
    found = []
    for public_name in module.__all__:
        obj = getattr(module, public_name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            found.append((f"{obj.__module__}.{obj.__qualname__}", obj))
    return found


def fast_params(**overrides):
    """The one place holding the tiny settings every estimator test uses."""
    params = dict(
        model="test_resnet",
        image_size=32,
        max_epochs=1,
        batch_size=8,
        augment_passes=1,
        random_state=0,
    )
    params.update(overrides)
    return params


def make_images(n=16, image_size=32, seed=0):
    """``(X, y, iaa)``: random uint8 images, benign/malignant labels, IAA in [0.4, 1]."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, size=(n, image_size, image_size, 3), dtype=np.uint8)
    iaa = rng.uniform(0.4, 1.0, size=n)
    y = np.array(["benign", "malignant"] * (n // 2))
    return X, y, iaa
