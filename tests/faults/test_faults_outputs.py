"""Fault injection, output folders: crafted journals, concurrent runs, full disks.

Every command that writes a folder (``skiaa agreement``, ``compare``,
``score``, ``reproduce`` and ``run_study``) goes through
``skiaa.utils.OutputFolder``. Each case asserts the exact outcome: the error
type (``OutputFolderError``) or one line on stderr, a message naming the item,
the earlier outputs byte-identical, no temporary file left, and a rerun equal
to an uninterrupted run.

Full disks are real where the test runs as root and may mount a small tmpfs,
and injected as ``OSError(ENOSPC)`` otherwise (where the write happens).
"""

import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import skiaa
from _helpers import write_compare_tables, write_mask_folder
from _study_release import numbers, write_study_release
from skiaa.cli import _common, main
from skiaa.datasets import load_images
from skiaa.study import OutputFolderError, StudyConfig, run_study
from skiaa.utils import OUTPUT_NAMES, OutputFolder, _outputs


# ------------------------------------------------------------------- commands
@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Inputs of every command: a mask folder, predictions, an IAA and a metadata table."""
    root = tmp_path_factory.mktemp("inputs")
    masks = root / "masks"
    paths = write_mask_folder(masks, n_images=5)
    preds = root / "preds"
    preds.mkdir()
    for k in range(5):  # the first annotator's mask as the prediction
        shutil.copy(paths[3 * k], preds / f"ISIC_{k + 1:07d}.png")
    iaa, meta = write_compare_tables(root)
    tables = write_study_release(root / "release", n_images=12)["tables"]
    return {"masks": masks, "preds": preds, "iaa": iaa, "meta": meta, "tables": tables}


def _argv(command, inputs, out, variant):
    """Arguments of ``command`` writing to ``out``; variants 0 and 1 give different files."""
    if command == "agreement":
        metrics = ["dice"] if variant == 0 else ["dice", "jaccard"]
        return ["agreement", str(inputs["masks"]), "--metrics", *metrics, "-q"]
    if command == "score":
        metrics = ["dice"] if variant == 0 else ["dice", "jaccard"]
        return ["score", str(inputs["preds"]), str(inputs["masks"]), "--metrics", *metrics, "-q"]
    if command == "compare":
        boot = "30" if variant == 0 else "40"
        return ["compare", "--iaa", str(inputs["iaa"]), "--metadata", str(inputs["meta"])] + [
            "--n-resamples",
            boot,
        ]
    tables = str(inputs["tables"])
    return ["reproduce", "--imaplusplus", tables, "--seed", str(variant), "-q"]


def _run(command, inputs, out, variant, *extra):
    argv = _argv(command, inputs, out, variant) + ["--out", str(out), *extra]
    if command != "reproduce" and "--force" not in extra:
        argv.append("--force")
    return main(argv)


COMMANDS = ("agreement", "compare", "score", "reproduce")


def _outputs_of(folder, command):
    """Bytes of the command's outputs in ``folder``; results.json without run times."""
    found = {}
    for name in OUTPUT_NAMES[command]:
        path = folder / name
        if path.exists():
            data = path.read_bytes()
            if name == "results.json":
                data = numbers(json.loads(data))
            if name != "report.md":  # report.md states the run time
                found[name] = data
    return found


def _hidden(folder):
    """Hidden entries anywhere under ``folder`` (staging, journal, lock, temporaries)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*"))


def _snapshot(folder):
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _one_line(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


@pytest.fixture(scope="module")
def clean_runs(inputs, tmp_path_factory):
    """Variant 0 and 1 of every command, each run once in a folder of its own."""
    root = tmp_path_factory.mktemp("clean")
    runs = {}
    for command in COMMANDS:
        for variant in (0, 1):
            out = root / f"{command}{variant}"
            assert _run(command, inputs, out, variant) == 0
            runs[command, variant] = _outputs_of(out, command)
        assert runs[command, 0] != runs[command, 1]
    return runs


def _earlier(command, inputs, tmp_path):
    """An output folder holding variant 0's outputs and a file of the user's."""
    out = tmp_path / "out"
    assert _run(command, inputs, out, 0) == 0
    (out / "notes.txt").write_text("the user's notes")
    return out


# ------------------------------------------------------------ crafted journals
def _journals(tmp_path, out):
    victim = tmp_path / "victim.txt"
    outside = tmp_path / "elsewhere"
    return (
        {
            "parent": (
                {"staging": ".skiaa-staging-a", "move": [], "delete": ["../victim.txt"]},
                "'../victim.txt'",
            ),
            "absolute": ({"move": [], "delete": [str(victim)]}, repr(str(victim))),
            "user file": ({"move": [], "delete": ["notes.txt"]}, "'notes.txt'"),
            "staging outside": (
                {"staging": "../elsewhere", "move": ["ecdf.png"], "delete": []},
                "'../elsewhere'",
            ),
            "staging link": (
                {"staging": ".skiaa-staging-link", "move": ["ecdf.png"], "delete": []},
                "'.skiaa-staging-link', which is not a folder",
            ),
            "not a journal": ("[1, 2]", "is not a commit journal"),
        },
        victim,
        outside,
    )


@pytest.mark.parametrize(
    "journal",
    ["parent", "absolute", "user file", "staging outside", "staging link", "not a journal"],
)
def test_crafted_journal_is_refused_by_name_and_nothing_is_touched(
    inputs, tmp_path, capsys, journal
):
    out = _earlier("agreement", inputs, tmp_path)
    journals, victim, outside = _journals(tmp_path, out)
    content, named = journals[journal]
    victim.write_text("the user's file")
    outside.mkdir()
    (outside / "ecdf.png").write_text("the user's figure")
    (out / ".skiaa-staging-link").symlink_to(outside)
    text = content if isinstance(content, str) else json.dumps(content)
    (out / ".skiaa-commit.json").write_text(text)
    before, outside_before = _snapshot(out), _snapshot(outside)
    capsys.readouterr()
    assert _run("agreement", inputs, out, 1) == 1
    err = _one_line(capsys)
    assert err.startswith(f"skiaa agreement: error: {out / '.skiaa-commit.json'} ")
    assert named in err and "nothing was changed" in err
    assert _snapshot(out) == before and _snapshot(outside) == outside_before
    assert victim.read_text() == "the user's file"
    assert not (out / ".skiaa-lock").exists()


@pytest.mark.parametrize("command", ["compare", "score", "reproduce"])
def test_every_command_refuses_a_crafted_journal(inputs, tmp_path, capsys, command):
    out = _earlier(command, inputs, tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("the user's file")
    journal = {"move": [], "delete": ["../victim.txt"]}
    (out / ".skiaa-commit.json").write_text(json.dumps(journal))
    before = _snapshot(out)
    capsys.readouterr()
    assert _run(command, inputs, out, 1) == 1
    err = _one_line(capsys)
    assert "'../victim.txt', which is not one of skiaa's output files" in err
    assert _snapshot(out) == before and victim.read_text() == "the user's file"


def test_run_study_refuses_a_crafted_journal(inputs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    (out / ".skiaa-commit.json").write_text(json.dumps({"move": [], "delete": [str(victim)]}))
    config = StudyConfig(data="imaplusplus", imaplusplus=str(inputs["tables"]), n_resamples=30)
    with pytest.raises(OutputFolderError, match="not one of skiaa's output files") as info:
        run_study(out, config, verbose=0)
    assert info.value.errno == errno.EPERM
    assert victim.read_text() == "keep"
    assert sorted(p.name for p in out.iterdir()) == [".skiaa-commit.json"]


def test_journal_of_an_older_version_is_still_completed(inputs, clean_runs, tmp_path):
    # Versions before the lock staged into a shared ".skiaa-staging" and wrote
    # no "staging" entry: such a journal of an interrupted commit is finished.
    out = _earlier("agreement", inputs, tmp_path)
    staging = out / ".skiaa-staging"
    staging.mkdir()
    for name, data in clean_runs["agreement", 1].items():
        (staging / name).write_bytes(data)
    names = list(OUTPUT_NAMES["agreement"])
    (out / ".skiaa-commit.json").write_text(json.dumps({"move": names, "delete": []}))
    assert _outputs.recover(out) is True
    assert _outputs_of(out, "agreement") == clean_runs["agreement", 1]
    assert _hidden(out) == []


# ---------------------------------------------------------------- one run at a time
@pytest.mark.parametrize("command", COMMANDS)
def test_second_run_stops_at_once_naming_the_first(inputs, clean_runs, tmp_path, capsys, command):
    out = _earlier(command, inputs, tmp_path)
    before = _snapshot(out)
    capsys.readouterr()
    with OutputFolder(out, OUTPUT_NAMES[command], force=True):  # the first run, working
        assert _run(command, inputs, out, 1) == 1
        err = _one_line(capsys)
        assert f" {out} is in use by another skiaa run (pid {os.getpid()} on " in err
        assert "--wait" in err
        # The other run's staging folder is its own: nothing of it was touched.
        assert [p.name for p in out.glob(".skiaa-staging-*")]
    assert _snapshot(out) == before
    assert _run(command, inputs, out, 1) == 0
    assert _outputs_of(out, command) == clean_runs[command, 1] and _hidden(out) == []


def test_run_study_in_a_busy_folder_raises_or_waits(inputs, tmp_path):
    out = tmp_path / "out"
    config = StudyConfig(data="imaplusplus", imaplusplus=str(inputs["tables"]), n_resamples=30)
    holder = OutputFolder(out, OUTPUT_NAMES["reproduce"], force=True).__enter__()
    try:
        with pytest.raises(OutputFolderError, match=rf"pid {os.getpid()} on .*wait=True") as info:
            run_study(out, config, verbose=0)
        assert info.value.errno == errno.EBUSY
        assert not (out / "results.json").exists()
    finally:
        holder.__exit__(None, None, None)
    # wait=True: the run starts once the holder ends (released here as it starts to wait).
    waited = []
    holder = OutputFolder(out, OUTPUT_NAMES["reproduce"], force=True).__enter__()

    def release(line):
        waited.append(line)
        holder.__exit__(None, None, None)

    folder = OutputFolder(out, OUTPUT_NAMES["reproduce"], force=True, wait=True, on_wait=release)
    with folder:
        pass
    assert len(waited) == 1 and f"waiting for another skiaa run (pid {os.getpid()}" in waited[0]
    results = run_study(out, config, verbose=0, wait=True)
    assert (out / "results.json").is_file() and results["config"]["n_resamples"] == 30


def test_cli_wait_starts_when_the_other_run_ends(
    inputs, clean_runs, tmp_path, monkeypatch, capsys
):
    out = _earlier("compare", inputs, tmp_path)
    holder = OutputFolder(out, OUTPUT_NAMES["compare"], force=True).__enter__()
    lines = []

    def show(*args, **kwargs):  # the CLI's "waiting for ..." line: end the other run then
        lines.append(" ".join(map(str, args)))
        holder.__exit__(None, None, None)

    monkeypatch.setattr(_common, "print", show, raising=False)
    assert _run("compare", inputs, out, 1, "--wait") == 0
    assert len(lines) == 1
    assert lines[0].startswith("skiaa compare: waiting for another skiaa run (pid ")
    assert _outputs_of(out, "compare") == clean_runs["compare", 1]


_HOLD = textwrap.dedent(
    """
    import sys
    from skiaa.utils import OUTPUT_NAMES, OutputFolder
    with OutputFolder(sys.argv[1], OUTPUT_NAMES["agreement"], force=True):
        print("held", flush=True)
        sys.stdin.read()
    """
)


def test_lock_holds_across_processes_and_ends_with_the_holder(
    inputs, clean_runs, tmp_path, capsys
):
    out = _earlier("agreement", inputs, tmp_path)
    src = str(Path(skiaa.__file__).parents[1])
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=src),
    )
    try:
        assert proc.stdout.readline() == "held\n"
        capsys.readouterr()
        assert _run("agreement", inputs, out, 1) == 1
        assert f"in use by another skiaa run (pid {proc.pid} on " in _one_line(capsys)
        proc.kill()  # the kernel drops the lock of a killed process
        proc.wait(timeout=60)
    finally:
        proc.kill()
        proc.communicate(timeout=60)
    assert _run("agreement", inputs, out, 1) == 0
    assert _outputs_of(out, "agreement") == clean_runs["agreement", 1]
    assert _hidden(out) == []  # the killed holder's staging folder and lock are gone


def test_lock_file_link_is_refused(inputs, tmp_path, capsys):
    out = _earlier("agreement", inputs, tmp_path)
    target = tmp_path / "victim.txt"
    target.write_text("keep")
    (out / ".skiaa-lock").symlink_to(target)
    capsys.readouterr()
    assert _run("agreement", inputs, out, 1) == 1
    assert ".skiaa-lock is a symbolic link" in _one_line(capsys)
    assert target.read_text() == "keep"


def test_failed_run_leaves_no_folder_it_created(inputs, tmp_path, capsys):
    out = tmp_path / "new" / "out"
    argv = ["compare", "--iaa", str(tmp_path / "none.csv"), "--metadata", str(inputs["meta"])]
    assert main([*argv, "--out", str(out)]) == 1
    assert "none.csv" in _one_line(capsys)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("name", ["../x.csv", "/tmp/x.csv", "a/b.csv", ".hidden", "..", ""])
def test_output_names_are_plain_names_in_the_folder(tmp_path, name):
    with pytest.raises(ValueError, match="is not a plain, visible file or folder name"):
        OutputFolder(tmp_path, [name])
    assert list(tmp_path.iterdir()) == []


def test_a_run_completes_its_own_outputs_journal_but_no_other(tmp_path):
    # The page's table names are its caller's: a journal may name them for a
    # run that writes them, and for no other run.
    out = tmp_path / "out"
    out.mkdir()
    (out / "pairs.csv").write_text("old")
    staging = out / ".skiaa-staging-x"
    staging.mkdir()
    (staging / "pairs.csv").write_text("new")
    journal = {"staging": staging.name, "move": ["pairs.csv"], "delete": []}
    (out / ".skiaa-commit.json").write_text(json.dumps(journal))
    refused = pytest.raises(OutputFolderError, match="'pairs.csv', which is not one of skiaa's")
    with refused, OutputFolder(out, OUTPUT_NAMES["compare"], force=True):
        pass
    assert (out / "pairs.csv").read_text() == "old"
    with OutputFolder(out, ["pairs.csv"], force=True):
        assert (out / "pairs.csv").read_text() == "new"


# ----------------------------------------------------------------- full disks
def _fail_writes(monkeypatch, name):
    """Make the write of output ``name`` fail as a full disk does, half-way."""
    real = OutputFolder.write

    def write(self, output, writer):
        if output != name:
            return real(self, output, writer)

        def half(path):
            Path(path).write_bytes(b"half a file")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        return real(self, output, half)

    monkeypatch.setattr(OutputFolder, "write", write)


@pytest.mark.parametrize(
    ("command", "name"),
    [
        ("agreement", "image_level_metrics.csv"),
        ("compare", "ecdf.png"),
        ("score", "score_summary.csv"),
        ("reproduce", "results.json"),
    ],
)
def test_full_disk_is_one_line_and_keeps_earlier_outputs(
    inputs, clean_runs, tmp_path, monkeypatch, capsys, command, name
):
    out = _earlier(command, inputs, tmp_path)
    before = _outputs_of(out, command)
    _fail_writes(monkeypatch, name)
    capsys.readouterr()
    assert _run(command, inputs, out, 1) == 1
    err = _one_line(capsys)
    assert err == (
        f"skiaa {command}: error: cannot write {name} in {str(out)!r}: No space left on "
        "device; earlier outputs are unchanged"
    )
    assert _outputs_of(out, command) == before and _hidden(out) == []
    monkeypatch.undo()
    assert _run(command, inputs, out, 1) == 0
    assert _outputs_of(out, command) == clean_runs[command, 1] and _hidden(out) == []


def test_full_disk_in_the_step_store_names_the_step(inputs, tmp_path, monkeypatch):
    config = StudyConfig(data="imaplusplus", imaplusplus=str(inputs["tables"]), n_resamples=30)
    out = tmp_path / "out"
    real = Path.write_text

    def write_text(self, data, *args, **kwargs):
        if self.parent.name == "steps" and "statistics" in self.name:
            real(self, data[:10], *args, **kwargs)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, data, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", write_text)
    with pytest.raises(OutputFolderError) as info:
        run_study(out, config, verbose=0)
    assert str(info.value) == (
        f"cannot write the step result statistics.json in {str(out / 'steps')!r}: "
        "No space left on device; earlier outputs are unchanged"
    )
    assert info.value.errno == errno.ENOSPC
    assert _hidden(out) == [] and not (out / "results.json").exists()
    monkeypatch.undo()
    first = run_study(out, config, verbose=0)
    assert first["reused_steps"] == ["agreement"]
    assert numbers(first) == numbers(run_study(tmp_path / "fresh", config, verbose=0))


# ------------------------------------------------------------ the image cache
@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(6):
        path = tmp_path / "img" / f"{i}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def test_full_disk_while_caching_images_is_an_error_naming_the_file(images, tmp_path, monkeypatch):
    from skiaa.datasets import _images

    cache = tmp_path / "cache"
    real, calls = os.pwrite, []

    def pwrite(fd, data, position):
        calls.append(1)
        if len(calls) == 3:  # the third image's row: a short write, then a full disk
            return real(fd, bytes(data)[:5], position)
        if len(calls) > 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, data, position)

    monkeypatch.setattr(_images.os, "pwrite", pwrite)
    with pytest.raises(OutputFolderError, match=r"cannot write the image cache file ") as info:
        load_images(images, 16, cache_dir=cache)
    message = str(info.value)
    assert repr(str(cache)) in message and "No space left on device" in message
    assert list(cache.iterdir()) == []  # no temporary file left
    monkeypatch.undo()
    np.testing.assert_array_equal(
        load_images(images, 16, cache_dir=cache), load_images(images, 16)
    )


def test_leftover_cache_file_of_a_killed_writer_is_removed(images, tmp_path):
    from skiaa.utils import locked_temporary_file

    cache = tmp_path / "cache"
    cache.mkdir()
    dead = cache / ".images_16x16_6_abc.skiaa-tmp-x1y2.npy"
    dead.write_bytes(b"\x93NUMPY half a cache")
    # A writer still at work (its file is locked) keeps its file.
    live, fd = locked_temporary_file(cache / "images_16x16_9_def.npy")
    try:
        load_images(images, 16, cache_dir=cache)
        assert not dead.exists() and live.exists()
    finally:
        os.close(fd)
        live.unlink()
    assert sorted(p.suffix for p in cache.iterdir()) == [".json", ".npy"]


# ---------------------------------------------------------- a real full disk
@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs; skipped where mounting one is not allowed."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.name != "posix" or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk, leave):
    """Fill ``disk`` up to ``leave`` bytes; return the filler file."""
    filler = disk / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    size = filler.stat().st_size
    os.truncate(filler, max(0, size - leave))
    return filler


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
def test_real_full_disk_is_one_line_and_keeps_earlier_outputs(
    inputs, clean_runs, small_disk, capsys, command
):
    out = _earlier(command, inputs, small_disk)
    (out / "notes.txt").unlink()
    before = _outputs_of(out, command)
    filler = _fill(small_disk, leave=4096)
    capsys.readouterr()
    assert _run(command, inputs, out, 1) == 1
    err = _one_line(capsys)
    assert err.startswith(f"skiaa {command}: error: cannot write ")
    assert f" in {str(out)}" in err.replace("'", "") and "No space left on device" in err
    assert _outputs_of(out, command) == before and _hidden(out) == []
    filler.unlink()
    assert _run(command, inputs, out, 1) == 0
    assert _outputs_of(out, command) == clean_runs[command, 1] and _hidden(out) == []


_CACHE = textwrap.dedent(
    """
    import sys
    from skiaa.datasets import load_images
    try:
        load_images(sys.argv[2:], 64, cache_dir=sys.argv[1])
    except OSError as exc:
        print(type(exc).__name__, exc)
    """
)


def test_real_full_disk_while_caching_images_is_no_sigbus(images, small_disk):
    # 6 images of 64 x 64 x 3 bytes do not fit in 4 KiB: the cache file
    # cannot be completed. A memory-mapped write would die of SIGBUS.
    cache = small_disk / "cache"
    cache.mkdir()
    filler = _fill(small_disk, leave=4096 * 4)
    src = str(Path(skiaa.__file__).parents[1])
    done = subprocess.run(
        [sys.executable, "-c", _CACHE, str(cache), *map(str, images)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=src),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr  # not -7 (SIGBUS)
    assert done.stdout.startswith(
        "OutputFolderError cannot write the image cache file images_64x64"
    )
    assert f"in {str(cache)!r}: No space left on device" in done.stdout
    assert list(cache.iterdir()) == []
    filler.unlink()
    np.testing.assert_array_equal(
        load_images(images, 64, cache_dir=cache), load_images(images, 64)
    )


def test_every_command_with_out_offers_wait():
    from skiaa.cli import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    with_out = sorted(n for n, p in commands.items() if "--out" in p._option_string_actions)
    assert with_out == sorted(set(OUTPUT_NAMES) - {"page"})  # the page: --html
    for name in with_out:
        assert "--wait" in commands[name]._option_string_actions, name


@pytest.mark.slow
def test_two_concurrent_processes_never_mix_their_outputs(tmp_path):
    # Two real runs on one --out, started together: the second stops at once
    # naming the first, or (started after it ended) replaces its set whole.
    from _helpers import start_skiaa

    masks = tmp_path / "many"
    write_mask_folder(masks, n_images=120, size=48)
    clean = {}
    for metrics in (("dice",), ("dice", "jaccard")):
        folder = tmp_path / "-".join(metrics)
        assert main(["agreement", str(masks), "--metrics", *metrics, "--out", str(folder)]) == 0
        clean[metrics] = _outputs_of(folder, "agreement")
    out = tmp_path / "out"
    procs = {
        metrics: start_skiaa(
            "agreement", masks, "--metrics", *metrics, "--out", out, "--force", "-q"
        )
        for metrics in clean
    }
    results = {m: (p, *p.communicate(timeout=300)) for m, p in procs.items()}
    winners = [m for m, (p, _, _) in results.items() if p.returncode == 0]
    assert winners, results
    for metrics, (proc, _, err) in results.items():
        if proc.returncode != 0:
            (other,) = [p.pid for m, (p, _, _) in results.items() if m != metrics]
            assert proc.returncode == 1 and len(err.strip().splitlines()) == 1, err
            assert f"is in use by another skiaa run (pid {other} on " in err
    now = _outputs_of(out, "agreement")
    assert now in [clean[m] for m in winners] and _hidden(out) == []


def test_journal_of_a_per_class_page_is_completed_by_any_run(tmp_path):
    # The pages of each class of label maps are named by the run's classes;
    # their names are still skiaa's own, whichever run finds the journal.
    out = tmp_path / "out"
    staging = out / ".skiaa-staging-x"
    staging.mkdir(parents=True)
    (staging / "disagreement_label2.html").write_text("new")
    (out / "disagreement_label7.html").write_text("old, of a class no longer there")
    journal = {
        "staging": staging.name,
        "move": ["disagreement_label2.html"],
        "delete": ["disagreement_label7.html"],
    }
    (out / ".skiaa-commit.json").write_text(json.dumps(journal))
    with OutputFolder(out, OUTPUT_NAMES["compare"], force=True):
        assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
            "disagreement_label2.html"
        ]


def test_any_other_full_disk_is_one_line_too(monkeypatch, capsys, tmp_path):
    # A full disk where skiaa does not write itself (a library's own file,
    # torch's weight download): still one line, naming the file when known.
    from skiaa.cli import _compare

    def full(args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "weights.pth"))

    monkeypatch.setattr(_compare, "run", full)
    argv = ["compare", "--iaa", "i.csv", "--metadata", "m.csv", "--out", str(tmp_path)]
    assert main(argv) == 1
    assert _one_line(capsys) == (
        f"skiaa compare: error: No space left on device while writing {tmp_path / 'weights.pth'}"
    )

    def other(args):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(_compare, "run", other)
    with pytest.raises(OSError, match="Input/output error"):  # not a full disk: not hidden
        main(argv)
