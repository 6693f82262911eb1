"""The study's fits as joblib tasks: n_jobs, devices, per-fit storage and resuming.

Signal tests (a SIGKILLed or Ctrl-C'd parallel run) start a real ``python -m
skiaa`` and are marked slow; the Dask cluster is tested in ``tests/test_dask.py``.
"""

import contextlib
import json
import os
import re
import signal
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from _helpers import start_skiaa
from _study_release import TINY, numbers
from skiaa.cli import main
from skiaa.study import StudyConfig, _fits, run_study

# Every kind of fit (regression, diagnosis, baseline, external fine-tune), one epoch each.
PARALLEL = dict(
    TINY,
    torch_num_threads=1,
    external=(("synthetic", None),),
    n_external=24,
    finetune_epochs=1,
)


def _study_numbers(results):
    """What must not depend on how the run was spread."""
    return numbers({k: v for k, v in results.items() if k not in ("config", "parallel")})


@pytest.fixture(scope="module")
def serial_and_parallel(tmp_path_factory):
    base = tmp_path_factory.mktemp("parallel")
    serial = run_study(base / "serial", StudyConfig(**PARALLEL), verbose=0)
    parallel = run_study(base / "parallel", StudyConfig(**PARALLEL, n_jobs=2), verbose=0)
    return base, serial, parallel


def test_n_jobs_gives_exactly_the_serial_numbers(serial_and_parallel):
    _, serial, parallel = serial_and_parallel
    assert _study_numbers(parallel) == _study_numbers(serial)  # equal, not approximately
    assert parallel["external"]["table"] == serial["external"]["table"]


def test_results_say_how_the_run_was_spread(serial_and_parallel):
    base, serial, parallel = serial_and_parallel
    # 2 folds x (1 regression + 2 diagnosis + 2 external) + the pixel baseline
    n_fits = 2 * (1 + 2 + 2) + 1
    for results, backend, workers in ((serial, "sequential", 1), (parallel, "loky", 2)):
        spread = results["parallel"]
        assert (spread["backend"], spread["n_workers"]) == (backend, workers)
        assert spread["torch_num_threads"] == 1 == results["config"]["torch_num_threads"]
        assert spread["n_fits"] == n_fits == len(spread["fits"])
        assert spread["reused_fits"] == []
        assert "iaa_regression/test_resnet/fold=1" in spread["fits"]
        assert {f["device"] for f in spread["fits"].values()} == {"auto"}
    assert {f["pid"] for f in serial["parallel"]["fits"].values()} == {os.getpid()}
    assert os.getpid() not in {f["pid"] for f in parallel["parallel"]["fits"].values()}
    saved = json.loads((base / "parallel" / "results.json").read_text())
    assert saved["parallel"] == parallel["parallel"]
    assert saved["config"]["n_jobs"] == 2


def test_each_fit_is_stored_and_a_rerun_reads_the_steps_back(serial_and_parallel):
    base, serial, _ = serial_and_parallel
    fits = sorted(p.name for p in (base / "serial" / "steps" / "fits").iterdir())
    assert len(fits) == serial["parallel"]["n_fits"]
    assert "diagnosis__test_resnet__alpha=0.5__fold=0.json" in fits
    # n_jobs is not part of any key: the parallel run's steps serve a serial rerun.
    again = run_study(base / "parallel", StudyConfig(**PARALLEL), verbose=0)
    assert "external/test_resnet/alpha=0.5" in again["reused_steps"]
    assert again["parallel"]["n_fits"] == 0
    assert _study_numbers(again) == _study_numbers(serial)


def test_interrupted_run_reuses_its_finished_fits(tmp_path, monkeypatch, capsys):
    config = StudyConfig(**TINY, torch_num_threads=1)
    clean = run_study(tmp_path / "clean", config, verbose=1)
    captured = capsys.readouterr()
    assert "7 fits to run or read back (in order, 1 torch thread(s) each)" in captured.out
    # One bar over the 7 fits (2 regression, 4 diagnosis, 1 baseline), with the time left.
    # (tqdm redraws at most every 0.1 s: the last frame drawn may be any count.)
    bar = captured.err.split("Fits:")[-1]
    assert re.search(r"\d/7 \[\d\d:\d\d<\d\d:\d\d", bar), bar  # [elapsed<left]
    original, calls = _fits._execute, []

    def interrupt_third(task, *args, **kwargs):
        calls.append(task.name)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(task, *args, **kwargs)

    monkeypatch.setattr(_fits, "_execute", interrupt_third)
    with pytest.raises(KeyboardInterrupt):
        run_study(tmp_path / "out", config, verbose=0)
    monkeypatch.undo()
    assert not (tmp_path / "out" / "results.json").exists()
    again = run_study(tmp_path / "out", config, verbose=0)
    assert again["parallel"]["reused_fits"] == calls[:2]
    assert set(again["parallel"]["fits"]) == set(clean["parallel"]["fits"]) - set(calls[:2])
    assert _study_numbers(again) == _study_numbers(clean)


def test_a_fit_of_a_changed_step_is_not_reused(tmp_path):
    run_study(tmp_path, StudyConfig(**TINY, torch_num_threads=1), verbose=0)
    for step in (tmp_path / "steps").glob("*.json"):
        if not step.name.startswith(("agreement", "statistics")):
            step.unlink()  # the fits alone remain
    config = StudyConfig(**{**TINY, "max_epochs": 2}, torch_num_threads=1)
    changed = run_study(tmp_path, config, verbose=0)
    assert changed["parallel"]["reused_fits"] == []
    assert changed["parallel"]["n_fits"] == 7


# ------------------------------------------------------------- spread and devices
CUDA4 = ("cuda:0", "cuda:1", "cuda:2", "cuda:3")


def _spread(n_cpus=2, n_cuda=0, default_threads=2, **settings):
    config = StudyConfig(**TINY, **settings)
    return _fits._resolve_spread(
        config, n_cpus=n_cpus, n_cuda=n_cuda, default_threads=default_threads
    )


@pytest.mark.parametrize(
    "settings, n_cuda, expected",
    [
        # CPU: torch's threads shared out between the workers unless fixed.
        ({}, 0, ("sequential", 1, None, 2)),
        ({"n_jobs": 2}, 0, ("loky", 2, None, 1)),
        ({"n_jobs": -1}, 0, ("loky", 2, None, 1)),
        ({"n_jobs": 2, "torch_num_threads": 2}, 0, ("loky", 2, None, 2)),
        # GPUs: one worker per device at most; n_jobs=1 stays on the one device.
        ({"device": "cuda", "n_jobs": -1}, 4, ("loky", 4, CUDA4, 1)),
        ({"device": "cuda", "n_jobs": 2}, 4, ("loky", 2, CUDA4, 1)),
        ({"device": "cuda"}, 4, ("sequential", 1, None, 2)),
        ({"device": "auto", "n_jobs": -1}, 1, ("loky", 2, None, 1)),
        ({"device": "cpu", "n_jobs": -1}, 4, ("loky", 2, None, 1)),
        ({"devices": ("cuda:1", "cuda:3"), "n_jobs": -1}, 4, ("loky", 2, ("cuda:1", "cuda:3"), 1)),
        ({"devices": ("cuda:1", "cuda:3"), "n_jobs": 8}, 4, ("loky", 2, ("cuda:1", "cuda:3"), 1)),
        # Dask: the cluster's workers, one torch thread each by default.
        ({"scheduler": "tcp://h:8786", "n_jobs": -1}, 4, ("dask", None, None, 1)),
    ],
)  # fmt: skip
def test_spread_from_fake_machines(settings, n_cuda, expected):
    spread = _spread(n_cuda=n_cuda, **settings)
    assert (spread.backend, spread.n_workers, spread.devices, spread.torch_num_threads) == expected


def _record_fit(spec, device, arrays):
    """A fake fit: sleeps on its device and says when."""
    start = time.time()
    time.sleep(spec["sleep"])
    return {"device": device, "start": start, "end": time.time(), "n": int(arrays["x"].sum())}


def test_one_fit_per_device_at_a_time(tmp_path):
    # Fake device names: nothing touches a GPU, the leasing is what is tested.
    spread = _spread(devices=("cuda:0", "cuda:1"), n_jobs=-1)
    store = _fits._FitStore(tmp_path, force=False)
    fits = {}

    def tasks():
        return [
            _fits._FitTask.of_step("fake", f"fit={k}", _record_fit, {"sleep": 0.3}, {}, {})
            for k in range(6)
        ]

    plan = _fits._StepPlan(store, "fake", {}, {}, tasks, lambda f: fits.setdefault("f", f))
    config = StudyConfig(**TINY)
    summary = _fits._run_fits([plan], {"x": np.ones(3)}, store, spread, config, verbose=0)
    records = fits["f"]
    assert [r["n"] for r in records] == [3] * 6
    assert {r["device"] for r in records} == {"cuda:0", "cuda:1"}
    for device in ("cuda:0", "cuda:1"):
        spans = sorted((r["start"], r["end"]) for r in records if r["device"] == device)
        assert all(end <= start for (_, end), (start, _) in zip(spans, spans[1:])), device
    # Each fit carries the device it ran on into results.json.
    for task, record in zip(plan.tasks, records):
        assert summary["fits"][task.name]["device"] == record["device"]
    assert tuple(summary["devices"]) == ("cuda:0", "cuda:1")


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"n_jobs": 0}, "n_jobs must be a positive integer or -1, got 0"),
        ({"n_jobs": -2}, "n_jobs must be a positive integer or -1, got -2"),
        ({"n_jobs": 1.5}, "n_jobs must be a positive integer or -1, got 1.5"),
        ({"devices": "cuda:0"}, "devices must be a sequence of device names"),
        ({"devices": ()}, "devices must name at least one device"),
        ({"devices": ("cuda:0", "cuda:0")}, r"devices must be distinct, got \['cuda:0'\]"),
        ({"scheduler": ""}, "scheduler must be a Dask scheduler address"),
        ({"scheduler": "tcp://h:1", "devices": ("cuda:0",)}, "scheduler and devices exclude"),
    ],
)
def test_bad_spread_settings(settings, message):
    with pytest.raises(ValueError, match=message):
        StudyConfig(**settings)


def test_absent_device_in_devices_fails_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="cuda:7"):
        run_study(tmp_path / "out", StudyConfig(**TINY, devices=("cpu", "cuda:7")), verbose=0)
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ signals
def _reproduce_argv(out, *extra):
    argv = ["reproduce", "--n-samples", "48", "--image-size", "32", "--models", "test_resnet"]
    return [*argv, "--cv", "2", "--torch-threads", "1", "--out", str(out), *extra]


@pytest.mark.slow
def test_sigkilled_parallel_run_resumes_exactly(tmp_path):
    out, extra = tmp_path / "out", ["--n-jobs", "2", "--max-epochs", "6"]
    proc = start_skiaa(*_reproduce_argv(out, *extra), PYTHONUNBUFFERED="1")
    fits = out / "steps" / "fits"
    deadline = time.monotonic() + 600
    while not (fits.is_dir() and any(fits.glob("*.json"))):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.2)
    # SIGKILL to the run and its workers, as a job scheduler or ``kill -9`` of the
    # process group does: nothing runs after it.
    psutil = pytest.importorskip("psutil")
    workers = psutil.Process(proc.pid).children(recursive=True)
    proc.kill()
    for worker in workers:
        with contextlib.suppress(psutil.NoSuchProcess):
            worker.kill()
    proc.wait(timeout=60)
    proc.stdout.close()
    proc.stderr.close()
    stored = {p.stem for p in fits.glob("*.json")}
    assert not (out / "results.json").exists()
    assert main([*_reproduce_argv(out, *extra), "-q"]) == 0
    again = json.loads((out / "results.json").read_text())
    reused = {name.replace("/", "__") for name in again["parallel"]["reused_fits"]}
    assert stored <= reused  # every fit finished before the kill is read back
    assert main([*_reproduce_argv(tmp_path / "fresh", *extra), "-q"]) == 0
    fresh = json.loads((tmp_path / "fresh" / "results.json").read_text())
    assert fresh["parallel"]["reused_fits"] == []
    assert _study_numbers(again) == _study_numbers(fresh)


@pytest.mark.slow
def test_ctrl_c_stops_every_worker_and_exits_130(tmp_path):
    psutil = pytest.importorskip("psutil")
    out = tmp_path / "out"
    argv = _reproduce_argv(out, "--n-jobs", "2", "--max-epochs", "200")
    proc = start_skiaa(*argv, PYTHONUNBUFFERED="1")
    fits = out / "steps" / "fits"
    deadline = time.monotonic() + 600
    workers = []
    while len(workers) < 2:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        workers = [c for c in psutil.Process(proc.pid).children(recursive=True)
                   if "loky" in " ".join(c.cmdline())]  # fmt: skip
        time.sleep(0.2)
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "skiaa reproduce: interrupted"
    assert "Traceback" not in err
    gone, alive = psutil.wait_procs(workers, timeout=30)
    assert not alive
    assert not (out / "results.json").exists()
    assert not any(fits.glob("*.json"))  # 200 epochs: no fit had finished


# ------------------------------------------------------------------ dry run
@given(
    st.lists(st.floats(0.1, 1e4), min_size=1, max_size=40),
    st.integers(1, 16),
)
def test_wall_time_bounds(fits, n_workers):
    from skiaa.study._paper import _wall_seconds

    wall = _wall_seconds(fits, n_workers)
    total, longest = sum(fits), max(fits)
    assert max(longest, total / n_workers) <= wall * (1 + 1e-12)
    assert wall <= total / n_workers + longest + 1e-9  # greedy list scheduling's bound
    assert _wall_seconds(fits, 1) == pytest.approx(total)


def test_dry_run_estimates_wall_time_for_its_devices(capsys):
    argv = ["reproduce", "--preset", "paper", "--dry-run", "--devices", "cuda:0,cuda:1"]
    assert main([*argv, "--n-jobs", "-1"]) == 0
    out = capsys.readouterr().out
    total = out.split("  total: ")[1].splitlines()[0]
    line = out.split("  wall time on ")[1].splitlines()[0]
    assert line.startswith("2 devices, one fit each at a time: ")
    assert line != f"2 devices, one fit each at a time: {total}"  # shared out
    assert main(["reproduce", "--preset", "paper", "--dry-run"]) == 0
    assert "wall time on" not in capsys.readouterr().out  # one device: the total


def _image_kind(spec, device, arrays):
    images = arrays["images"]
    return {"memmap": isinstance(images, np.memmap), "sum": int(images[:, 0, 0, 0].sum())}


def test_local_workers_share_the_images_through_a_memory_map(tmp_path):
    images = np.random.RandomState(0).randint(0, 255, (64, 64, 64, 3), dtype=np.uint8)  # 786 kB
    images = np.concatenate([images] * 3)  # 2.4 MB: above joblib's 1 MB memmapping limit
    store = _fits._FitStore(tmp_path, force=False)
    done = {}

    def tasks():
        return [
            _fits._FitTask.of_step("fake", f"fit={k}", _image_kind, {}, {}, {}) for k in range(4)
        ]

    plan = _fits._StepPlan(store, "fake", {}, {}, tasks, lambda f: done.setdefault("f", f))
    spread = _spread(n_jobs=2)
    _fits._run_fits([plan], {"images": images}, store, spread, StudyConfig(**TINY), verbose=0)
    expected = int(images[:, 0, 0, 0].sum())
    assert done["f"] == [
        {"memmap": True, "sum": expected, "seconds": f["seconds"]} for f in done["f"]
    ]
