"""Fault injection, study: step caches, output folders, interrupts.

Each case asserts the exact outcome: the error type and a message naming the
item, that the outputs of an earlier run are unchanged, and that the rerun
gives exactly the numbers of a run that never saw the fault.
"""

import json
import os
import shutil
import signal
import time
import warnings
from pathlib import Path

import pytest
from sklearn.utils._param_validation import InvalidParameterError

from _helpers import start_skiaa
from _study_release import TINY, numbers, write_study_release
from skiaa.cli import main
from skiaa.estimators import IAARegressor
from skiaa.study import OutputFolderError, StepCacheWarning, StudyConfig, _run, run_study
from skiaa.utils import _outputs


def _files(folder):
    """Bytes of every output file of a study folder (not its caches)."""
    return {n: (folder / n).read_bytes() for n in _run.OUTPUT_FILES if (folder / n).exists()}


def _strip_timing(text):
    """results.json without run times and reuse lists, for byte-level comparisons."""
    return numbers(json.loads(text))


# ------------------------------------------------------------------ step caches
@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """Tables of a fake IMA++ release: the study runs on them in seconds, no training."""
    return write_study_release(tmp_path_factory.mktemp("release"), n_images=24)["tables"]


@pytest.fixture
def tables_run(tables, tmp_path):
    config = StudyConfig(data="imaplusplus", imaplusplus=str(tables), n_resamples=100)
    out = tmp_path / "out"
    results = run_study(out, config, verbose=0)
    return out, config, results


CORRUPTIONS = {
    "truncated": lambda b: b[: len(b) // 2],
    "empty": lambda b: b"",
    "not utf-8": lambda b: b"\xff\xfe\x00garbage",
    "not an object": lambda b: b"[1, 2, 3]",
    "no key": lambda b: _edit(b, lambda d: d.pop("key")),
    "no result": lambda b: _edit(b, lambda d: d.pop("result")),
}


def _edit(data, change):
    payload = json.loads(data)
    change(payload)
    return json.dumps(payload).encode()


@pytest.mark.parametrize("step", ["agreement", "statistics"])
@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_unreadable_step_is_a_warned_miss(tables_run, step, corruption):
    out, config, first = tables_run
    path = out / "steps" / f"{step}.json"
    path.write_bytes(CORRUPTIONS[corruption](path.read_bytes()))
    with pytest.warns(StepCacheWarning) as record:
        again = run_study(out, config, verbose=0)
    messages = [str(w.message) for w in record if issubclass(w.category, StepCacheWarning)]
    assert len(messages) == 1 and str(path) in messages[0], messages
    assert step not in again["reused_steps"]
    assert numbers(again) == numbers(first)
    # Rewritten: the next run reads it back without a warning.
    assert json.loads(path.read_text())["result"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", StepCacheWarning)
        third = run_study(out, config, verbose=0)
    assert third["reused_steps"] == ["agreement", "statistics"]


def test_stale_key_is_a_silent_miss(tables_run):
    # A result of other settings is not an error: recomputed without a warning.
    out, config, _ = tables_run
    path = out / "steps" / "statistics.json"
    payload = json.loads(path.read_text())
    payload["key"] = "0" * 64
    path.write_text(json.dumps(payload))
    with warnings.catch_warnings():
        warnings.simplefilter("error", StepCacheWarning)
        again = run_study(out, config, verbose=0)
    assert again["reused_steps"] == ["agreement"]


def test_leftover_temporary_step_files_are_ignored(tables_run):
    out, config, first = tables_run
    (out / "steps" / ".statistics.json.999.tmp").write_text('{"key": "half')
    again = run_study(out, config, verbose=0)
    assert again["reused_steps"] == ["agreement", "statistics"]
    assert numbers(again) == numbers(first)


# --------------------------------------------------------------- output folders
def _no_work(monkeypatch):
    """Make any data loading fail loudly: the checks must come before it."""
    from skiaa.study import _run

    def fail(*args, **kwargs):
        raise AssertionError("the study started working before checking its output folder")

    monkeypatch.setattr(_run, "_load_data", fail)


def test_out_below_a_file_fails_before_any_work(tmp_path, monkeypatch, capsys):
    _no_work(monkeypatch)
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    with pytest.raises(
        OutputFolderError, match=r"output folder .*out: .*file\.txt is a file, not a"
    ):
        run_study(blocker / "out", StudyConfig(**TINY), verbose=0)
    assert main(["reproduce", "--quick", "--out", str(blocker / "out")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "file.txt" in err and "Traceback" not in err
    assert blocker.read_text() == "not a folder"


def test_out_is_a_file_fails_before_any_work(tmp_path, monkeypatch, capsys):
    _no_work(monkeypatch)
    target = tmp_path / "report"
    target.write_text("keep me")
    with pytest.raises(OutputFolderError, match="exists and is not a folder"):
        run_study(target, StudyConfig(**TINY), verbose=0)
    assert main(["reproduce", "--quick", "--out", str(target)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(target) in err
    assert target.read_text() == "keep me"


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0,
    reason="root writes into read-only folders; the check cannot fail as root",
)
def test_read_only_out_fails_before_any_work(tmp_path, monkeypatch, capsys):
    _no_work(monkeypatch)
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(OutputFolderError, match="is not writable"):
            run_study(folder, StudyConfig(**TINY), verbose=0)
        assert main(["reproduce", "--quick", "--out", str(folder / "sub")]) == 1
        assert capsys.readouterr().err.count("\n") == 1
    finally:
        folder.chmod(0o755)


def test_absent_cuda_device_fails_before_any_work(tmp_path, monkeypatch, capsys):
    import torch

    if torch.cuda.is_available() and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    _no_work(monkeypatch)
    with pytest.raises(ValueError, match="cuda:7"):
        run_study(tmp_path / "out", StudyConfig(**TINY, device="cuda:7"), verbose=0)
    argv = ["reproduce", "--quick", "--device", "cuda:7", "--out", str(tmp_path / "o")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cuda:7" in err and err.startswith("skiaa reproduce: error:")
    assert not (tmp_path / "o").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "setting",
    [
        {"freeze_bn": "yes"},
        {"head_warmup_epochs": -1},
        {"head_init": "xavier"},
        {"lr": -0.1},
        {"optimizer": "rmsprop"},
    ],
    ids=lambda s: next(iter(s)),
)
def test_bad_estimator_setting_fails_before_any_work(tables_run, monkeypatch, setting):
    # An existing run's folder: the refused run must leave its outputs as they were.
    out, _, _ = tables_run
    before = _files(out)
    _no_work(monkeypatch)
    ((name, value),) = setting.items()
    with pytest.raises(InvalidParameterError) as info:
        run_study(out, StudyConfig(**TINY, **setting), verbose=0)
    message = str(info.value)
    assert message.startswith(f"StudyConfig: The '{name}' parameter") and repr(value) in message
    assert _files(out) == before


# ------------------------------------------------------------------- interrupts
@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished tiny synthetic run (seed 0) and a clean seed-1 run to compare with."""
    base = tmp_path_factory.mktemp("finished")
    run_study(base / "seed0", StudyConfig(**TINY), verbose=0)
    clean = run_study(base / "seed1", StudyConfig(**TINY, random_state=1), verbose=0)
    return base / "seed0", base / "seed1", clean


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def _interrupt_fit(monkeypatch, at_call=1):
    """Raise KeyboardInterrupt in the ``at_call``-th IAARegressor.fit, as Ctrl-C does."""
    calls = []
    original = IAARegressor.fit

    def fit(self, X, y, **params):
        calls.append(1)
        if len(calls) == at_call:
            raise KeyboardInterrupt
        return original(self, X, y, **params)

    monkeypatch.setattr(IAARegressor, "fit", fit)
    return calls


def test_interrupted_rerun_leaves_the_previous_outputs(finished, tmp_path, monkeypatch):
    seed0, _, clean = finished
    out = _copy(seed0, tmp_path / "out")
    before = _files(out)
    steps_before = {p.name: p.read_bytes() for p in (out / "steps").glob("*.json")}
    _interrupt_fit(monkeypatch, at_call=2)  # the second fold of the IAA regression
    with pytest.raises(KeyboardInterrupt):
        run_study(out, StudyConfig(**TINY, random_state=1), verbose=0)
    # Every output is the seed-0 run's, byte for byte: no seed-1 agreement.csv or ecdf.png.
    assert _files(out) == before
    assert not list(out.glob(".skiaa-staging*"))
    # The interrupted step left no result; the steps before it stored seed 1's.
    steps_after = {p.name: p.read_bytes() for p in (out / "steps").glob("*.json")}
    assert (
        steps_after["iaa_regression__test_resnet.json"]
        == (steps_before["iaa_regression__test_resnet.json"])
    )
    # The fold that finished before the interrupt is stored on its own and read back.
    fit = "steps/fits/iaa_regression__test_resnet__fold={}.json"
    assert (out / fit.format(0)).read_bytes() != (seed0 / fit.format(0)).read_bytes()
    assert (out / fit.format(1)).read_bytes() == (seed0 / fit.format(1)).read_bytes()
    monkeypatch.undo()
    again = run_study(out, StudyConfig(**TINY, random_state=1), verbose=0)
    assert again["reused_steps"] == ["agreement", "statistics"]
    assert again["parallel"]["reused_fits"] == ["iaa_regression/test_resnet/fold=0"]
    assert numbers(again) == numbers(clean)


def test_cli_ctrl_c_exits_130_with_one_line(finished, tmp_path, monkeypatch, capsys):
    seed0, _, _ = finished
    out = _copy(seed0, tmp_path / "out")
    before = _files(out)
    _interrupt_fit(monkeypatch)
    argv = ["reproduce", "--n-samples", "48", "--image-size", "32", "--models", "test_resnet"]
    argv += ["--cv", "2", "--max-epochs", "1", "--seed", "1", "--out", str(out), "-q"]
    assert main(argv) == 130
    assert capsys.readouterr().err == "skiaa reproduce: interrupted\n"
    assert _files(out) == before


def test_interrupted_commit_is_completed_by_the_next_run(finished, tmp_path, monkeypatch):
    # Killed between two of the final renames: the journal lets the next run
    # finish the commit before it does anything else.
    seed0, seed1, clean = finished
    out = _copy(seed0, tmp_path / "out")
    real, calls = os.replace, []

    def replace(src, dst):
        if Path(dst).parent == out and Path(src).parent.name.startswith(".skiaa-staging-"):
            calls.append(Path(dst).name)
            if len(calls) == 3:
                raise KeyboardInterrupt
        return real(src, dst)

    monkeypatch.setattr(_outputs.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        run_study(out, StudyConfig(**TINY, random_state=1), verbose=0)
    monkeypatch.undo()
    assert (out / _outputs._JOURNAL).is_file()
    assert _outputs.recover(out) is True
    assert not (out / _outputs._JOURNAL).exists()
    now, expected = _files(out), _files(seed1)
    assert set(now) == set(expected)
    assert now["agreement.csv"] == expected["agreement.csv"]
    assert _strip_timing(now["results.json"]) == numbers(clean)
    # A rerun reads every step back and writes the same numbers.
    again = run_study(out, StudyConfig(**TINY, random_state=1), verbose=0)
    assert numbers(again) == numbers(clean)


def test_outputs_of_another_run_are_removed(finished, tmp_path, tables):
    # A tables-only run after a training run: no training figure of the old run stays.
    seed0, _, _ = finished
    out = _copy(seed0, tmp_path / "out")
    assert (out / "diagnosis.png").is_file()
    run_study(
        out, StudyConfig(data="imaplusplus", imaplusplus=str(tables), n_resamples=100), verbose=0
    )
    assert not (out / "diagnosis.png").exists()
    assert not (out / "iaa_regression.png").exists()
    assert json.loads((out / "results.json").read_text())["config"]["data"] == "imaplusplus"


def _reproduce(out, *extra):
    argv = ["reproduce", "--n-samples", "48", "--image-size", "32", "--models", "test_resnet"]
    return start_skiaa(*argv, "--cv", "2", "--out", out, *extra, PYTHONUNBUFFERED="1")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_signalled_process_leaves_one_run_and_rerun_is_exact(finished, tmp_path, sig):
    seed0, _, _ = finished
    out = _copy(seed0, tmp_path / "out")
    before = _files(out)
    step = out / "steps" / "iaa_regression__test_resnet.json"
    step_before = step.read_bytes()
    # Many epochs: the signal lands while the IAA regression trains.
    proc = _reproduce(out, "--seed", "1", "--max-epochs", "200")
    for line in proc.stdout:
        if line.startswith("[4/6]"):
            break
    time.sleep(2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    if sig == signal.SIGINT:
        assert proc.returncode == 130, err
        assert err.strip().splitlines()[-1] == "skiaa reproduce: interrupted"
        assert "Traceback" not in err
    else:
        assert proc.returncode == -signal.SIGKILL
    assert _files(out) == before
    assert step.read_bytes() == step_before  # the interrupted step stored nothing
    # The rerun, uninterrupted, gives the numbers of a run that never was.
    fresh = run_study(tmp_path / "fresh", StudyConfig(**{**TINY, "random_state": 1}), verbose=0)
    again = run_study(out, StudyConfig(**{**TINY, "random_state": 1}), verbose=0)
    assert numbers(again) == numbers(fresh)
    assert not list(out.glob(".skiaa-staging*"))
