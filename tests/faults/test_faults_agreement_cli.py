"""Fault injection, ``skiaa agreement``/``skiaa compare`` outputs.

A bad ``--out`` fails before any work with one line; outputs follow the umask;
an interrupted run (Ctrl-C in the computation, a kill between the two renames,
SIGKILL/SIGINT of a real process) never leaves a new pairwise table beside an
old image-level one, and the rerun gives exactly the files of an uninterrupted
run.
"""

import errno
import os
import re
import signal
import stat
import time
from pathlib import Path

import pytest

import skiaa.datasets
from _helpers import start_skiaa, write_compare_tables, write_mask_folder
from skiaa.cli import main
from skiaa.datasets import _mask_folders
from skiaa.utils import OutputFolderError, _outputs

PAIRWISE, IMAGES = "pairwise_metrics.csv", "image_level_metrics.csv"


@pytest.fixture
def masks(tmp_path):
    folder = tmp_path / "masks"
    write_mask_folder(folder, n_images=5)
    return folder


def _agreement(masks, out, *extra):
    return main(["agreement", str(masks), "--out", str(out), "-q", *extra])


def _files_in(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _one_line(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if a command reaches its computation."""

    def boom(*args, **kwargs):
        raise AssertionError("the computation started")

    monkeypatch.setattr(skiaa.datasets, "mask_folder_agreement", boom)
    monkeypatch.setattr(skiaa.datasets, "read_iaa_table", boom)
    monkeypatch.setattr(skiaa.datasets, "load_imaplusplus", boom)


# --------------------------------------------------------------------------- #
# --out checked before any work
# --------------------------------------------------------------------------- #
def _command(command, masks, out):
    # compare's tables need not exist: --out is checked before they are read.
    if command == "agreement":
        return ["agreement", str(masks), "--out", str(out)]
    return ["compare", "--iaa", "i.csv", "--metadata", "m.csv", "--out", str(out)]


@pytest.mark.parametrize("command", ["agreement", "compare"])
def test_out_under_a_file_fails_before_work(masks, tmp_path, capsys, no_work, command):
    blocker = tmp_path / "results.txt"
    blocker.write_text("not a folder")
    out = blocker / "run1"
    args = _command(command, masks, out)
    assert main(args) == 1
    err = _one_line(capsys)
    assert err.startswith(f"skiaa {command}: error: --out {out}:")
    assert f"{blocker} is a file, not a folder" in err
    assert blocker.read_text() == "not a folder"


@pytest.mark.parametrize("command", ["agreement", "compare"])
def test_out_is_a_file(masks, tmp_path, capsys, no_work, command):
    out = tmp_path / "out.csv"
    out.write_text("x")
    args = _command(command, masks, out)
    assert main(args) == 1
    assert f"--out {out} exists and is not a folder" in _one_line(capsys)


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root may write read-only folders"
)
@pytest.mark.parametrize("command", ["agreement", "compare"])
def test_read_only_out_fails_before_work(masks, tmp_path, capsys, no_work, command):
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o500)
    try:
        out = parent / "new"
        args = _command(command, masks, out)
        assert main(args) == 1
        assert f"{parent} is not writable" in _one_line(capsys)
    finally:
        parent.chmod(0o700)


def test_check_output_dir_unit(tmp_path):
    # Not created by the check; existing outputs need force; one error type.
    out = _outputs.check_output_dir(tmp_path / "a" / "b", ["x.csv"])
    assert out == tmp_path / "a" / "b" and not out.exists()
    out.mkdir(parents=True)
    (out / "x.csv").write_text("old")
    with pytest.raises(OutputFolderError, match=r"x\.csv already exists; use --force") as info:
        _outputs.check_output_dir(out, ["x.csv", "y.csv"])
    assert info.value.errno == errno.EEXIST
    assert _outputs.check_output_dir(out, ["x.csv"], force=True) == out
    (tmp_path / "f").write_text("a file")
    for bad in (tmp_path / "f", tmp_path / "f" / "below"):
        with pytest.raises(OutputFolderError, match=re.escape(str(tmp_path / "f"))) as info:
            _outputs.check_output_dir(bad)
        assert info.value.errno == errno.ENOTDIR


# --------------------------------------------------------------------------- #
# File modes follow the umask
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_outputs_follow_the_umask(masks, tmp_path, umask):
    old = os.umask(umask)
    try:
        out = tmp_path / "out"
        assert _agreement(masks, out) == 0
        reference = tmp_path / "plain.txt"
        reference.write_text("written by open()")
    finally:
        os.umask(old)
    expected = 0o666 & ~umask
    assert stat.S_IMODE(reference.stat().st_mode) == expected
    for name in (PAIRWISE, IMAGES):
        assert stat.S_IMODE((out / name).stat().st_mode) == expected, name


# --------------------------------------------------------------------------- #
# Interrupts: never a mix, rerun equals an uninterrupted run
# --------------------------------------------------------------------------- #
@pytest.fixture
def runs(masks, tmp_path):
    """An old run (Dice only) and, separately, an uninterrupted new run."""
    old = tmp_path / "out"
    assert _agreement(masks, old, "--metrics", "dice") == 0
    clean = tmp_path / "clean"
    assert _agreement(masks, clean, "--metrics", "dice", "jaccard") == 0
    assert _files_in(old) != _files_in(clean)
    return old, _files_in(old), _files_in(clean)


NEW = ("--metrics", "dice", "jaccard", "--force")


def _no_temporary_files(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".")] == []


def _visible(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if not p.name.startswith(".")}


def test_ctrl_c_during_computation_leaves_old_outputs(masks, runs, monkeypatch, capsys):
    out, before, clean = runs
    real, calls = _mask_folders._release_pairs, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(_mask_folders, "_release_pairs", interrupted)
    capsys.readouterr()
    assert _agreement(masks, out, *NEW, "--n-jobs", "1") == 130
    assert _one_line(capsys) == "skiaa agreement: interrupted"
    assert _files_in(out) == before and _no_temporary_files(out)
    monkeypatch.undo()
    assert _agreement(masks, out, *NEW) == 0
    assert _files_in(out) == clean


@pytest.mark.parametrize("stop_at", [1, 2, 3, 4])
def test_interrupt_between_renames_never_mixes(masks, runs, monkeypatch, stop_at):
    # The commit removes the 2 old files, then renames the 2 new ones in.
    # Interrupt before the n-th of those 4 steps (1: before any).
    out, before, clean = runs
    real_replace, real_unlink, steps = os.replace, Path.unlink, []

    def step():
        steps.append(1)
        if len(steps) == stop_at:
            raise KeyboardInterrupt

    def replace(src, dst):
        if Path(src).parent.name.startswith(".skiaa-staging-"):  # not the journal's
            step()
        return real_replace(src, dst)

    def unlink(self, missing_ok=False):
        if not self.name.startswith("."):  # an old output, not a temporary file
            step()
        return real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(_outputs.os, "replace", replace)
    monkeypatch.setattr(Path, "unlink", unlink)
    assert _agreement(masks, out, *NEW) == 130
    monkeypatch.undo()
    now = _visible(out)
    # The journal and the staged files wait for the next run to finish the commit.
    hidden = sorted(p.name for p in out.iterdir() if p.name.startswith("."))
    assert hidden[0] == ".skiaa-commit.json" and len(hidden) == 2
    assert hidden[1].startswith(".skiaa-staging-")
    # Every file present is from one run only: all old, or new ones alone.
    old_files = {n for n in now if now[n] == before.get(n)}
    new_files = {n for n in now if now[n] == clean.get(n)}
    assert old_files | new_files == set(now)
    assert not (old_files and new_files), (old_files, new_files)
    assert _agreement(masks, out, *NEW) == 0
    assert _files_in(out) == clean and _no_temporary_files(out)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_killed_process_leaves_no_mix_and_rerun_is_exact(tmp_path, sig):
    masks = tmp_path / "many"
    write_mask_folder(masks, n_images=150, size=48)
    out = tmp_path / "out"
    assert _agreement(masks, out, "--metrics", "dice") == 0
    before = _files_in(out)
    clean = tmp_path / "clean"
    assert _agreement(masks, clean, "--metrics", "dice", "jaccard") == 0
    clean = _files_in(clean)

    proc = start_skiaa("agreement", masks, "--out", out, *NEW)
    # "Found N masks ..." is printed once the folder is read, before the pairs.
    line = proc.stderr.readline()
    assert line.startswith("Found 450 masks"), line
    time.sleep(0.2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    print(f"{sig!r}: return code {proc.returncode}")  # where the signal landed, with -s
    if proc.returncode == 0:  # finished before the signal: a complete new run
        assert _files_in(out) == clean
    else:
        if sig == signal.SIGINT:
            assert proc.returncode == 130 and "skiaa agreement: interrupted" in err
            assert "Traceback" not in err
        visible = _visible(out)
        assert visible == before or all(clean[n] == b for n, b in visible.items()), visible
    # The rerun gives exactly the files of an uninterrupted run.
    assert _agreement(masks, out, *NEW) == 0
    assert _files_in(out) == clean


def test_rerun_after_kill_also_removes_leftover_temporary_files(masks, runs):
    out, _, clean = runs
    # Left by SIGKILL: a staging folder (this version) or a temporary file
    # beside the outputs (versions before the lock), and a journal's temporary.
    leftover = out / f".pairwise_metrics{_outputs._TMP_MARKER}abc123.csv"
    leftover.write_text("half a table")
    (out / ".skiaa-staging-x1y2").mkdir()
    (out / ".skiaa-staging-x1y2" / PAIRWISE).write_text("half a table")
    (out / ".skiaa-commit.json.tmp").write_text('{"mo')
    assert _agreement(masks, out, *NEW) == 0
    assert _files_in(out) == clean


def test_compare_outputs_replace_as_a_set(tmp_path, monkeypatch):
    # skiaa compare writes three files: interrupted at the second rename, none
    # of the old ones is left beside a new one.
    iaa, meta = write_compare_tables(tmp_path)
    out = tmp_path / "out"
    args = ["compare", "--iaa", str(iaa), "--metadata", str(meta), "--out", str(out)]
    assert main([*args, "--n-resamples", "30"]) == 0
    before = _files_in(out)
    real, calls = os.replace, []

    def replace(src, dst):
        if Path(src).parent.name.startswith(".skiaa-staging-"):
            calls.append(dst)
            if len(calls) == 2:
                raise KeyboardInterrupt
        return real(src, dst)

    monkeypatch.setattr(_outputs.os, "replace", replace)
    assert main([*args, "--n-resamples", "40", "--force"]) == 130
    monkeypatch.undo()
    now = _visible(out)
    assert set(now) == {"comparison.json"}
    assert now["comparison.json"] != before["comparison.json"]
    assert '"n_resamples": 40' in now["comparison.json"].decode()
