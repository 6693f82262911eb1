"""Helpers shared by several test modules (test modules never import each other).

Imported as ``from _helpers import ...``: pytest puts ``tests/`` on ``sys.path``
(rootdir-relative, no ``__init__.py``), as it does for ``conftest.py``.
"""

import importlib
import importlib.util
import inspect
import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd

import skiaa
from skiaa.datasets import IMAPLUSPLUS_TABLES

# Public modules with an ``__all__``; those not written yet are skipped by name.
PUBLIC_MODULES = [
    "skiaa",
    "skiaa.agreement",
    "skiaa.datasets",
    "skiaa.stats",
    "skiaa.page",
    "skiaa.nets",
    "skiaa.losses",
    "skiaa.estimators",
    "skiaa.study",
]


def disc(shape, centre, radius):
    """A boolean disc of ``radius`` pixels around ``centre`` in an array of ``shape``."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2


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


# --------------------------------------------------------------------------- #
# Fake IMA++ releases and mask folders (fault tests, readers)
# --------------------------------------------------------------------------- #
_ANNOTATORS = [("A01", "T1", "S1"), ("A02", "T3", "S2"), ("A03", "T2", "S1")]


def mask_row(image_id, name, annotator, tool, skill, **extra):
    """One row of the release's mask table (``..._seg_metadata.csv``)."""
    return {
        "ISIC_id": image_id,
        "img_filename": f"{image_id}.JPG",
        "seg_filename": name,
        "annotator": annotator,
        "tool": tool,
        "skill_level": skill,
        **extra,
    }


def write_release(folder, labels, *, seed=0):
    """Write a fake IMA++ release: one image per ``benign_malignant`` label.

    Every image has three annotator masks (hence three pairs) and a STAPLE
    mask paired with each of them, as in the real release. Returns the expected
    per-image frame: ``image_id``, ``benign_malignant``, ``iaa`` (mean of the
    three annotator-pair Dice values), ``n_masks`` and ``n_pairs``.
    """
    rng = np.random.default_rng(seed)
    meta, masks, pairs, images, expected = [], [], [], [], []
    for k, label in enumerate(labels):
        image_id = f"ISIC_{k + 1:07d}"
        meta.append({"isic_id": image_id, "benign_malignant": label, "age_approx": 50})
        names = [f"{image_id}_{a}_{t}_{s}_obj{j}.png" for j, (a, t, s) in enumerate(_ANNOTATORS)]
        staple = f"{image_id}_ST_ST_ST_ST.png"
        for name, (a, t, s) in [*zip(names, _ANNOTATORS), (staple, ("ST", "ST", "ST"))]:
            masks.append(mask_row(image_id, name, a, t, s))
        dices = []
        for i in range(3):
            for j in [*range(i + 1, 3), "ST"]:
                other = _ANNOTATORS[j] if j != "ST" else ("ST", "ST", "ST")
                dice = 0.97 if j == "ST" else float(rng.uniform(0.4, 1.0))
                if j != "ST":
                    dices.append(dice)
                pairs.append(
                    {
                        "img_id": f"{image_id}.JPG",
                        "mask1": names[i],
                        "mask2": names[j] if j != "ST" else staple,
                        "annotator1": _ANNOTATORS[i][0],
                        "annotator2": other[0],
                        "dice_score": dice,
                        "tool1": _ANNOTATORS[i][1],
                        "skill_level1": _ANNOTATORS[i][2],
                        "tool2": other[1],
                        "skill_level2": other[2],
                    }
                )
        iaa = float(np.mean(dices))
        images.append(
            {
                "img_id": f"{image_id}.JPG",
                "dice_score_mean": iaa,
                "dice_score_std": float(np.std(dices, ddof=1)),
            }
        )
        expected.append(
            {
                "image_id": image_id,
                "benign_malignant": label,
                "iaa": iaa,
                "n_masks": 3,
                "n_pairs": 3,
            }
        )
    folder.mkdir(parents=True, exist_ok=True)
    for key, rows in [
        ("metadata", meta),
        ("masks", masks),
        ("pairs", pairs),
        ("image_metrics", images),
    ]:
        pd.DataFrame(rows).to_csv(folder / IMAPLUSPLUS_TABLES[key], index=False)
    return pd.DataFrame(expected)


def table_path(folder, key):
    """Path of one of the fake release's tables (``metadata``, ``masks``, ...)."""
    return folder / IMAPLUSPLUS_TABLES[key]


def edit_table(folder, key, edit):
    """Rewrite one table of a release with ``edit(frame) -> frame``."""
    path = table_path(folder, key)
    edit(pd.read_csv(path)).to_csv(path, index=False)


def write_mask_folder(folder, n_images=4, *, size=16, seed=0):
    """Write a flat IMA++-named mask folder: three annotators' masks per image.

    Each mask is a random rectangle, so that pairs have distinct Dice values.
    Returns the list of mask paths.
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n_images):
        for j, (a, t, s) in enumerate(_ANNOTATORS):
            mask = np.zeros((size, size), np.uint8)
            top, left = rng.integers(0, size // 3, size=2)
            bottom, right = rng.integers(size // 2, size, size=2)
            mask[top:bottom, left:right] = 255
            path = folder / f"ISIC_{k + 1:07d}_{a}_{t}_{s}_obj{j}.png"
            Image.fromarray(mask).save(path)
            paths.append(path)
    return paths


def write_compare_tables(folder):
    """An IAA and an ISIC metadata table of 12 images, as ``skiaa compare --iaa`` reads them.

    Returns the two paths; the images alternate benign and malignant.
    """
    ids = [f"ISIC_{i:07d}" for i in range(12)]
    iaa, meta = folder / "iaa.csv", folder / "meta.csv"
    pd.DataFrame({"img_id": ids, "dice_score_mean": [0.5 + i / 40 for i in range(12)]}).to_csv(
        iaa, index=False
    )
    pd.DataFrame({"isic_id": ids, "benign_malignant": ["benign", "malignant"] * 6}).to_csv(
        meta, index=False
    )
    return iaa, meta


def start_skiaa(*args, **env):
    """Start ``python -m skiaa ARGS`` as a terminal would, for signal tests.

    A non-interactive shell starts a background job (``tox -e slow &``) with
    SIGINT ignored, a child inherits that, and a Python started with SIGINT
    ignored never raises KeyboardInterrupt: an interrupt test would then see
    the run finish. While the child starts, this process *catches* SIGINT,
    which ``exec`` resets to the default action in the child, as a terminal
    leaves it. ``env`` adds environment variables; stdout and stderr are pipes.
    """
    # The skiaa these tests import (a checkout's src/ or an installed package).
    src = os.path.dirname(os.path.dirname(os.path.abspath(skiaa.__file__)))
    env = dict(os.environ, PYTHONPATH=src, OMP_NUM_THREADS="1", **env)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "skiaa", *map(str, args)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)


def examples(n):
    """``n`` Hypothesis examples under the "default" profile, scaled for the loaded one.

    A test's own ``@settings(max_examples=...)`` overrides the profile, so the
    profile's choice would be lost: the "mutation" profile (tox -e mutation,
    which reruns the property tests for every mutant) runs a fifth as many,
    "ci-full" ten times as many.
    """
    from hypothesis import settings

    scale = settings.default.max_examples / settings.get_profile("default").max_examples
    return max(1, round(n * scale))
