"""Shared pytest fixtures and settings for skiaa's tests."""

import math
import os
import random
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, settings

# Hypothesis profiles: "default" keeps the default run fast on 2 cores; "ci-full"
# (HYPOTHESIS_PROFILE=ci-full) explores more examples.
settings.register_profile(
    "default", max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("ci-full", max_examples=500, deadline=None)
# "mutation" (tox -e mutation): every mutant reruns the property tests, so fewer
# examples, always the same ones (derandomize), so that whether a mutant is
# killed does not depend on the draw; and no shrinking: a mutant only needs a
# test to fail, and shrinking its example took up to half a minute a kill.
settings.register_profile(
    "mutation",
    max_examples=10,
    derandomize=True,
    database=None,
    deadline=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

if "mutmut" in sys.modules:
    # Under mutmut every mutant runs in a child forked from a process that
    # imported this file: what is imported here is imported once. Hypothesis'
    # pytest plugin imports its patch writer (and libcst, 1.7 s) the first time
    # a property test fails, which would be in every child a property test kills.
    import hypothesis.extra._patching  # noqa: F401


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

# Which tests killed which function's mutants so far in this run of mutmut:
# one "function<TAB>test" line per kill, appended by the child that ran it.
_KILLS_FILE = "mutmut-kills.tsv"


def _function_of(mutant):
    """``skiaa.m.x_f__mutmut_3`` -> ``skiaa.m.x_f``: the mutated function."""
    return mutant.rsplit("__mutmut_", 1)[0]


def _kills_by_test(function):
    """How many of ``function``'s mutants each test has killed in this run."""
    kills = {}
    path = Path(_KILLS_FILE)
    if path.is_file():
        for line in path.read_text().splitlines():
            where, _, test = line.partition("\t")
            if where == function:
                kills[test] = kills.get(test, 0) + 1
    return kills


def _order_for_mutant(config, items, mutant):
    """Run a mutant's tests likeliest killer first and only those meant for its module.

    mutmut stops at the first failing test, so a killed mutant costs the tests
    run before its killer. The tests that killed other mutants of the same
    function run first (most kills first): mutants of one function mostly die
    by the same few tests, which are not always the fastest of the hundred
    that reach it. The others follow by the duration mutmut recorded, fastest
    first. The end-to-end study tests run only for mutants of ``skiaa.study``.
    Which tests run, and so whether a mutant survives, does not depend on the
    order.
    """
    import json

    stats = Path("mutmut-stats.json")  # mutmut runs the tests from mutants/
    durations = json.loads(stats.read_text())["duration_by_test"] if stats.is_file() else {}
    kills = {}
    if stats.is_file():  # in mutmut's mutants/, not a checkout a test is checked in
        kills = _kills_by_test(_function_of(mutant))
        global _kills_path
        _kills_path = Path(_KILLS_FILE).resolve()  # the tests chdir to their tmp_path
    if not mutant.startswith("skiaa.study."):
        study = [item for item in items if item.path.name in _STUDY_ONLY_TEST_FILES]
        # A mutant only those files reach keeps them (no tests would read as killed).
        if study and len(study) < len(items):
            config.hook.pytest_deselected(items=study)
            items[:] = [item for item in items if item.path.name not in _STUDY_ONLY_TEST_FILES]
    # sorted() is stable: tests without a recorded time keep their order, last.
    items.sort(key=lambda item: (-kills.get(item.nodeid, 0), durations.get(item.nodeid, math.inf)))


_kills_path = None  # set when a mutant's tests are ordered, in mutmut's child


def pytest_runtest_logreport(report):
    """Under mutmut, record the test that killed the mutant (see ``_order_for_mutant``).

    And drop Hypothesis' failing example from the report: at the end of the
    session Hypothesis' pytest plugin turns it into a patch of the test file,
    parsing and rewriting the file with libcst, which took ten seconds, twenty
    times what the failing test took, for every mutant a property test killed.
    """
    mutant = _mutant_under_test()
    if mutant is None or _kills_path is None or not report.failed:
        return
    report.__dict__.pop("_hypothesis_failing_examples", None)
    # One short line in append mode: two children writing at once do not interleave.
    with open(_kills_path, "a") as kills:
        kills.write(f"{_function_of(mutant)}\t{report.nodeid}\n")


def _cheap_mutmut_stats():
    """Make mutmut's stats run record which tests reach each function cheaply.

    While mutmut records which tests call each mutated function, mutmut 3.8
    walks the stack at every call of one (``max_stack_depth``) and resolves
    each frame's file on disk to tell the project's frames from the others:
    that made the recording run many times slower than the tests themselves
    (most of a run's setup). This records the same
    thing, the same way, with each file's kind cached and the walk skipped
    when the function is already recorded for the running test and its
    caller already known (mutmut clears the record after each test). mutmut's
    own fix is under review (boxed/mutmut pull request 570); without mutmut's
    function, or once it changes, nothing is replaced.
    """
    import functools

    try:
        from mutmut import stats as mutmut_stats
        from mutmut.configuration import config as mutmut_config
        from mutmut.mutation import trampoline
        from mutmut.state import state as mutmut_state
    except ImportError:
        return
    if trampoline.record_trampoline_hit is not mutmut_stats.record_trampoline_hit:
        return  # replaced already, or mutmut no longer calls it from there
    from importlib.metadata import version

    if version("mutmut") not in _MUTMUT_CHECKED:
        return  # another version of mutmut: its recorder may count differently
    roots = mutmut_config().resolved_mutated_source_paths
    depth = mutmut_config().max_stack_depth
    track = mutmut_config().track_dependencies
    stop, mine, other = 0, 1, 2

    def kind_of(filename):
        if "pytest" in filename or "hammett" in filename or "unittest" in filename:
            return stop
        try:
            path = Path(filename).resolve(strict=True)
        except OSError:  # "<string>" and other code without a file
            return other
        return mine if any(root in path.parents for root in roots) else other

    cached_kind_of = functools.cache(kind_of)

    def record_trampoline_hit(name, caller=None):
        state = mutmut_state()
        known = state.function_dependencies.get(name, ())
        if name in state._stats and (caller is None or not track or caller in known):
            return  # recorded for this test already: the walk would change nothing
        if depth != -1:
            frame, left = sys._getframe(), depth
            while left and frame:
                filename = frame.f_code.co_filename
                frame = frame.f_back
                # Relative names depend on the working directory: not cached.
                kind = (cached_kind_of if os.path.isabs(filename) else kind_of)(filename)
                if kind == stop:
                    break
                if kind == mine:
                    left -= 1
            if not left:
                return
        state._stats.add(name)
        if caller is not None and track:
            state.function_dependencies[name].add(caller)

    trampoline.record_trampoline_hit = record_trampoline_hit


# The versions of mutmut whose recorder the one above was checked to equal
# (the same tests for every function, mutmut-stats.json compared).
_MUTMUT_CHECKED = ("3.8.1",)


def pytest_configure(config):
    """Under mutmut's stats run, record test coverage cheaply (see ``_cheap_mutmut_stats``)."""
    if os.environ.get("MUTANT_UNDER_TEST") == "stats":
        _cheap_mutmut_stats()


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
