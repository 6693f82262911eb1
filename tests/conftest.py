"""Shared pytest fixtures and settings for skiaa's tests."""

import math
import os
import random
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# Hypothesis profiles: "default" keeps the default run fast on 2 cores; "ci-full"
# (HYPOTHESIS_PROFILE=ci-full) explores more examples.
settings.register_profile(
    "default", max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("ci-full", max_examples=500, deadline=None)
# "mutation" (tox -e mutation): every mutant reruns the property tests, so fewer
# examples, always the same ones (derandomize), so that whether a mutant is
# killed does not depend on the draw.
settings.register_profile(
    "mutation",
    max_examples=10,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def _imaplusplus_tables_dir():
    env = os.environ.get("SKIAA_IMAPLUSPLUS_DIR")
    if env and (Path(env) / "IMAplusplus_img_metadata.csv").is_file():
        return Path(env)
    return None


@pytest.fixture(scope="session")
def imaplusplus_dir():
    """Folder holding the real IMA++ tables; the test is skipped when absent.

    Looked up in ``$SKIAA_IMAPLUSPLUS_DIR`` only.
    """
    path = _imaplusplus_tables_dir()
    if path is None:
        pytest.skip("real IMA++ tables not found (set SKIAA_IMAPLUSPLUS_DIR)")
    return path


@pytest.fixture(autouse=True)
def _work_in_tmp_path(tmp_path, monkeypatch):
    """Run every test in its own empty folder.

    A test (or a docstring example) that writes to a relative path then writes
    into its tmp_path, never into the checkout where it could be committed.
    """
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def _seed_everything():
    """Seed the global RNGs so that a test is reproducible on its own."""
    random.seed(0)
    np.random.seed(0)  # noqa: NPY002 - code under test may still use the legacy global RNG
    # Seed torch only when a test already imported it: numpy-only tests stay torch-free.
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(0)


def _mutant_under_test():
    """The mutmut mutant this process runs the tests of, or None outside mutmut.

    mutmut names its mutants ``<module>.x_<function>__mutmut_<n>`` and sets
    ``MUTANT_UNDER_TEST`` to that name (to "stats", "fail" or "" otherwise).
    """
    name = os.environ.get("MUTANT_UNDER_TEST", "")
    return name if "__mutmut_" in name else None


# Test files that exercise the study end to end: a mutant of agreement/ or
# stats/ is reached by them too, but the files written for its own module
# already decide it, and the study's runs would make each of its survivors
# cost ten seconds more.
_STUDY_ONLY_TEST_FILES = ("test_study_paper.py",)


def _order_for_mutant(config, items, mutant):
    """Run a mutant's tests fastest first and only those meant for its module.

    mutmut stops at the first failing test, so ordering by the duration it
    recorded makes a killed mutant cost its cheapest killing test; the end-to-end
    study tests run only for mutants of ``skiaa.study``.
    """
    import json

    stats = Path("mutmut-stats.json")  # mutmut runs the tests from mutants/
    durations = json.loads(stats.read_text())["duration_by_test"] if stats.is_file() else {}
    if not mutant.startswith("skiaa.study."):
        study = [item for item in items if item.path.name in _STUDY_ONLY_TEST_FILES]
        # A mutant only those files reach keeps them (no tests would read as killed).
        if study and len(study) < len(items):
            config.hook.pytest_deselected(items=study)
            items[:] = [item for item in items if item.path.name not in _STUDY_ONLY_TEST_FILES]
    # sorted() is stable: tests without a recorded time keep their order, last.
    items.sort(key=lambda item: durations.get(item.nodeid, math.inf))


def pytest_collection_modifyitems(config, items):
    """Skip tests marked ``gpu`` when CUDA is absent; order a mutant's tests."""
    mutant = _mutant_under_test()
    if mutant is not None:
        _order_for_mutant(config, items, mutant)
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        has_cuda = False
    if has_cuda:
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
