"""Output folders: one check, one lock, one commit, for the study and every command.

Every skiaa command that writes a folder (``skiaa agreement``, ``compare``,
``score``, ``reproduce`` and :func:`skiaa.study.run_study`) goes through
:class:`OutputFolder`, which keeps these promises:

- **checked before any work**: a folder that cannot be used fails in a second,
  with one :class:`OutputFolderError` naming it (:func:`check_output_dir`);
- **one run at a time**: a lock on the folder (``OUT/.skiaa-lock``, an
  ``flock`` released by the kernel even when the process is killed) is held for
  the whole run; a second run stops at once naming the process that holds it,
  or waits for it when asked;
- **private staging**: a run writes its files into its own hidden folder
  (``OUT/.skiaa-staging-<random>``), never into a folder another run could
  share;
- **one commit**: a journal (``OUT/.skiaa-commit.json``, written by an atomic
  rename) lists the staged files and the stale outputs; the old files of the
  set are removed first and the new ones renamed in, so a reader never finds
  an old file beside a new one. A run killed in that window of milliseconds
  leaves the journal, and the next run in the folder finishes the commit before
  anything else. The journal is trusted only for skiaa's own output names
  (:data:`OUTPUT_NAMES`) inside the folder: anything else is refused by name and
  nothing is touched;
- **a full disk is one line**: a write that fails names the folder and the file
  being written; the staging folder is removed, the earlier outputs are left as
  they were, and leftovers of a killed run are removed by the next one;
- **permissions from the umask**: files are created with ``open`` (``0666``
  less the umask), as any other program would create them.
"""

import contextlib
import errno
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

try:  # POSIX; the lock is what keeps two runs from mixing their outputs
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None
    import msvcrt

#: skiaa's own outputs, per command (a name ending with "/" is a folder of
#: files). A journal may only name these, or the outputs the run reading it
#: declares itself (the page's table names are the caller's choice).
OUTPUT_NAMES = {
    "agreement": ("pairwise_metrics.csv", "image_level_metrics.csv"),
    "compare": ("comparison.json", "comparison.txt", "ecdf.png"),
    "score": (
        "score_per_image.csv",
        "score_per_annotator.csv",
        "score_summary.csv",
        "score_figure.png",
    ),
    "page": ("disagreement_files/", "disagreement.html"),
    # results.json last: whoever reads it finds every other file of the run.
    "reproduce": (
        "report.md",
        "agreement.csv",
        "ecdf.png",
        "agreement_by_factor.png",
        "iaa_regression.png",
        "diagnosis.png",
        "paper_table.csv",
        "results.json",
    ),
}
_ALL_NAMES = frozenset(name for names in OUTPUT_NAMES.values() for name in names)
# Outputs whose names vary with the run: the page of each class of label maps.
_NAME_PATTERNS = (re.compile(r"disagreement_label-?\d+\.html"),)

_LOCK = ".skiaa-lock"
_JOURNAL = ".skiaa-commit.json"
_STAGING_PREFIX = ".skiaa-staging-"
# The staging folders a journal may name: this version's private ones, and the
# shared ".skiaa-staging" of skiaa versions before the lock.
_STAGING_NAME = re.compile(r"\.skiaa-staging(-[A-Za-z0-9_]+)?")
# Marker in the names of temporary files, so that leftovers of a killed run
# are recognised (and removed) by the next one.
_TMP_MARKER = ".skiaa-tmp-"
# Errors that mean "the disk is full", reported as such rather than as a bug.
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class OutputFolderError(OSError):
    """An output folder cannot be used or written; the message names it.

    Raised before any work when the folder is a file, lies below a file,
    cannot be written, already holds outputs that may not be replaced, or is in
    use by another skiaa run; during a run when a file cannot be written (a
    full disk: the message names the folder and the file, and the earlier
    outputs are left as they were); and when the folder holds a commit journal
    that names anything but skiaa's own outputs (nothing is touched then).
    ``errno`` is that of the underlying error where there is one
    (``errno.ENOSPC`` for a full disk, ``errno.EEXIST``, ``errno.EACCES``,
    ``errno.EBUSY`` for a folder in use...).

    Parameters
    ----------
    message : str
        What went wrong, naming the folder (and the file).
    code : int, default=None
        The ``errno`` value.
    """

    def __init__(self, message, code=None):
        super().__init__(message)
        self.errno = code


def umask_mode():
    """Permission bits of a new file under the current umask (``0o666 & ~umask``)."""
    # os.umask can only be read by setting it; set it straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def write_error(what, folder, exc, outcome="earlier outputs are unchanged"):
    """The :class:`OutputFolderError` for ``exc`` raised while writing ``what`` in ``folder``."""
    if isinstance(exc, OutputFolderError):
        return exc
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno in DISK_FULL:
        reason = f"{reason} (the disk is full)" if exc.errno != errno.ENOSPC else reason
    return OutputFolderError(
        f"cannot write {what} in {str(folder)!r}: {reason}; {outcome}",
        exc.errno,
    )


@contextlib.contextmanager
def writing(what, folder, outcome="earlier outputs are unchanged"):
    """Turn an ``OSError`` inside the block into an :class:`OutputFolderError` naming both."""
    try:
        yield
    except OSError as exc:
        raise write_error(what, folder, exc, outcome) from exc


# ------------------------------------------------------------ temporary files
def temporary_file(target):
    """Create an empty hidden temporary file beside ``target``; return its path.

    The file has :func:`umask_mode` permissions, so that renaming it onto
    ``target`` gives the same mode as writing ``target`` directly.
    """
    path, fd = locked_temporary_file(target)
    os.close(fd)
    return path


def locked_temporary_file(target):
    """As :func:`temporary_file`, but ``flock``-ed: return ``(path, fd)``.

    The file stays locked through ``fd`` until the caller closes it, so that
    :func:`remove_stale_temporaries` removes only files whose writer is gone.
    """
    target = Path(target)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.stem}{_TMP_MARKER}", suffix=target.suffix, dir=target.parent
    )
    try:
        _lock_fd(fd, wait=True)
        os.chmod(tmp, umask_mode())
    except BaseException:
        os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp), fd


def remove_stale_temporaries(folder, pattern="*"):
    """Remove the temporary files of killed writers in ``folder``; return their names.

    A file of :func:`locked_temporary_file` stays locked while its writer
    lives (the kernel drops the lock of a killed process), so a file that can
    be locked here is a leftover: SIGKILL, or SIGBUS on a full disk before
    skiaa wrote with ordinary I/O.
    """
    removed = []
    for path in Path(folder).glob(f".{pattern}{_TMP_MARKER}*"):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            continue
        try:
            if _try_lock(fd):
                path.unlink(missing_ok=True)
                removed.append(path.name)
        finally:
            os.close(fd)
    return removed


def _try_lock(fd):
    try:
        _lock_fd(fd, wait=False)
    except BlockingIOError:
        return False
    return True


def _lock_fd(fd, wait):
    """Lock ``fd`` exclusively; ``BlockingIOError`` when held elsewhere and not ``wait``."""
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        return
    while True:  # pragma: no cover - Windows
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return
        except OSError:
            if not wait:
                raise BlockingIOError(errno.EAGAIN, "locked") from None
            time.sleep(0.5)


# ------------------------------------------------------------------- checks
def check_output_dir(out, names=(), *, force=False, option="--out"):
    """Check, before any work, that ``out`` can receive the files ``names``.

    Parameters
    ----------
    out : str or path-like
        The output folder; it may not exist yet (it is not created here).
    names : sequence of str, default=()
        The files a run writes into ``out``.
    force : bool, default=False
        Whether existing files among ``names`` may be replaced.
    option : str, default="--out"
        How messages name the folder (a command-line option or a parameter).

    Returns
    -------
    out : pathlib.Path

    Raises
    ------
    OutputFolderError
        If ``out`` is a file, a parent of ``out`` is a file, ``out`` (or, when
        it does not exist, its nearest existing parent) is not writable, or a
        file of ``names`` exists and not ``force``.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputFolderError(f"{option} {out} exists and is not a folder", errno.ENOTDIR)
    probe = out.absolute()
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise OutputFolderError(f"{option} {out}: {probe} is a file, not a folder", errno.ENOTDIR)
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputFolderError(f"{option} {out}: {probe} is not writable", errno.EACCES)
    existing = [str(out / name) for name in names if (out / name).exists()]
    if existing and not force:
        verb = "exists" if len(existing) == 1 else "exist"
        # Library calls made by a command (the page of `skiaa agreement --html`) name
        # their folder "out": say both spellings, as the busy message does.
        hint = "--force" if option.startswith("--") else "force=True (--force on the command line)"
        raise OutputFolderError(
            f"{' and '.join(existing)} already {verb}; use {hint} to overwrite", errno.EEXIST
        )
    return out


# ------------------------------------------------------------- the folder
class OutputFolder:
    """The output folder of one run: checked, locked, staged privately, committed once.

    Use as a context manager around the whole run::

        with OutputFolder(out, OUTPUT_NAMES["compare"], force=force) as folder:
            ...  # compute
            folder.commit({"comparison.json": write_json, ...})

    Parameters
    ----------
    path : str or path-like
        The output folder, created when missing (and removed again when the
        run fails and leaves it empty).
    names : sequence of str
        The files this run may write, in commit order; all of them skiaa's own
        (:data:`OUTPUT_NAMES`). Those it does not write are deleted at commit,
        so that no output of an earlier run stays beside the new ones.
    force : bool, default=False
        Whether existing files among ``names`` may be replaced.
    wait : bool, default=False
        When another run holds the folder: wait for it (``on_wait`` is called
        once with a line saying so) instead of failing.
    option : str, default="--out"
        How messages name the folder.
    on_wait : callable, default=None
        Called with one line when the run starts waiting for another.
    """

    def __init__(self, path, names, *, force=False, wait=False, option="--out", on_wait=None):
        for name in names:
            _check_name(name)
        self.path = Path(path)
        self.names = tuple(names)
        self._plain = [name.rstrip("/") for name in names]
        self.force = force
        self.wait = wait
        self.option = option
        self.on_wait = on_wait
        self.staging = None
        self._lock = None
        self._created = []
        self._journaled = False

    # -- entering: check, create, lock, recover, stage
    def __enter__(self):
        check_output_dir(self.path, self.names, force=self.force, option=self.option)
        missing = [p for p in [self.path, *self.path.parents] if not p.exists()]
        try:
            for folder in reversed(missing):
                folder.mkdir()
                self._created.append(folder)
            self._acquire()
            recover(self.path, self.names)
            if not self.force:  # an earlier run may have committed meanwhile
                check_output_dir(self.path, self.names, option=self.option)
            _clean_leftovers(self.path)
            self.staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=self.path))
        except BaseException as exc:
            self._leave()
            if isinstance(exc, OSError):
                raise write_error("its lock and staging folder", self.path, exc) from exc
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        self._leave()
        return False

    def _leave(self):
        try:
            if self.staging is not None and not self._journaled:
                shutil.rmtree(self.staging, ignore_errors=True)
        finally:
            self._release()
            for folder in reversed(self._created):  # only when the run left them empty
                with contextlib.suppress(OSError):
                    folder.rmdir()

    # -- the lock
    def _acquire(self):
        lock = self.path / _LOCK
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        while True:
            try:
                fd = os.open(lock, flags, umask_mode())
            except FileNotFoundError:
                # A run we waited for removed the folder it had created.
                self.path.mkdir(parents=True)
                self._created.append(self.path)
                continue
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise OutputFolderError(
                        f"{self.option} {self.path}: {lock} is a symbolic link; skiaa does not "
                        "follow it (remove it)",
                        errno.ELOOP,
                    ) from None
                raise
            try:
                if not _try_lock(fd):
                    holder = _holder(fd)
                    if not self.wait:
                        hint = (
                            "--wait"
                            if self.option.startswith("--")
                            else "wait=True (--wait on the command line)"
                        )
                        raise OutputFolderError(
                            f"{self.option} {self.path} is in use by {holder}; wait for it to "
                            f"end, or pass {hint} to start when it does",
                            errno.EBUSY,
                        )
                    if self.on_wait is not None:
                        self.on_wait(f"waiting for {holder}, which uses {self.path}")
                    _lock_fd(fd, wait=True)
                # The holder removes the file when it ends: lock the file that
                # is there now, not the one it removed.
                try:
                    now = os.stat(lock, follow_symlinks=False)
                except FileNotFoundError:
                    now = None
                mine = os.fstat(fd)
                if now is None or (now.st_dev, now.st_ino) != (mine.st_dev, mine.st_ino):
                    os.close(fd)
                    continue
                self._lock = fd  # from here on _release unlinks the file
            except BaseException:
                os.close(fd)
                raise
            info = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                "command": _command_line(),
            }
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
            return

    def _release(self):
        if self._lock is None:
            return
        try:
            with contextlib.suppress(OSError):
                lock = self.path / _LOCK
                now, mine = os.stat(lock, follow_symlinks=False), os.fstat(self._lock)
                if (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino):
                    lock.unlink()
        finally:
            os.close(self._lock)
            self._lock = None

    # -- writing and committing
    def writing(self, what):
        """Context for writing ``what`` (file names, in words) into :attr:`staging`.

        An ``OSError`` inside it (a full disk) becomes an
        :class:`OutputFolderError` naming ``what`` and the folder.
        """
        return writing(what, self.path)

    def write(self, name, writer):
        """Write output ``name`` with ``writer(path)`` into :attr:`staging`.

        For a folder output (``name`` ends with ``/``) ``writer`` fills an
        empty folder, which replaces the old folder as a whole at commit.
        """
        if name not in self.names:
            raise ValueError(f"{name!r} is not among this run's outputs {self.names}")
        path = self.staging / name.rstrip("/")
        with self.writing(name.rstrip("/")):
            if name.endswith("/"):
                path.mkdir()
            writer(path)

    def commit(self, writers=None):
        """Write ``writers`` (name -> function of a path), then replace the old outputs.

        Returns
        -------
        paths : list of pathlib.Path
            The outputs of this run, in commit order.
        """
        for name, writer in (writers or {}).items():
            self.write(name, writer)
        staged = {p.name for p in self.staging.iterdir()}
        unknown = sorted(staged - set(self._plain))
        if unknown:  # every output is declared, for later runs to clean it up
            raise ValueError(f"outputs {unknown} are not among {self.names}")
        plan = {
            "staging": self.staging.name,
            "move": [n for n in self._plain if n in staged],
            "delete": [n for n in self._plain if n not in staged],
        }
        tmp = self.path / (_JOURNAL + ".tmp")
        with writing("its commit journal", self.path):
            try:
                with open(tmp, "w", encoding="utf-8") as f:
                    json.dump(plan, f)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path / _JOURNAL)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            self._journaled = True
        # A failure from here on leaves the journal: the next run completes it.
        outcome = "the next skiaa run in this folder completes the commit"
        with writing("its outputs", self.path, outcome):
            _roll_forward(self.path, plan, _folders(self.names))
        return [self.path / name for name in plan["move"]]


# --------------------------------------------------------------- the journal
def recover(out_dir, names=()):
    """Complete a commit that a killed run left in ``out_dir``; return whether there was one.

    Parameters
    ----------
    out_dir : path-like
        The output folder (whose lock the caller holds).
    names : sequence of str, default=()
        The outputs of the caller's run, trusted besides :data:`OUTPUT_NAMES`.

    Returns
    -------
    recovered : bool

    Raises
    ------
    OutputFolderError
        If the journal cannot be read or names anything but skiaa's own outputs
        and a staging folder inside ``out_dir``; nothing is touched then.
    """
    out_dir = Path(out_dir)
    journal = out_dir / _JOURNAL
    if not os.path.lexists(journal):
        return False
    trusted = _ALL_NAMES | set(names)
    plan = _read_journal(journal, {n.rstrip("/") for n in trusted}, _folders(trusted))
    _roll_forward(out_dir, plan, _folders(trusted))
    return True


def _check_name(name):
    """Refuse an output name that is not a plain name in the folder."""
    plain = name.rstrip("/") if isinstance(name, str) else None
    if (
        not plain
        or plain in (".", "..")
        or plain.startswith(".")
        or "/" in plain
        or os.sep in plain
        or (os.altsep and os.altsep in plain)
    ):
        raise ValueError(f"output name {name!r} is not a plain, visible file or folder name")


def _folders(names):
    """The folder outputs among ``names`` (those ending with "/"), without the slash."""
    return {name.rstrip("/") for name in names if name.endswith("/")}


def _read_journal(journal, trusted, folders):
    """The plan of ``journal``, checked name by name before anything is moved."""

    def refuse(why):
        return OutputFolderError(
            f"{journal} {why}; nothing was changed. It is not a journal skiaa wrote: "
            "remove it if no skiaa run was interrupted in this folder",
            errno.EPERM,
        )

    if journal.is_symlink() or not journal.is_file():
        raise refuse("is not a regular file")
    try:
        plan = json.loads(journal.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise refuse(f"cannot be read ({exc})") from None
    if not isinstance(plan, dict) or not set(plan) <= {"staging", "move", "delete"}:
        raise refuse("is not a commit journal")
    plan.setdefault("staging", ".skiaa-staging")
    staging = plan["staging"]
    if not isinstance(staging, str) or not _STAGING_NAME.fullmatch(staging):
        raise refuse(f"names the staging folder {staging!r}, not one of skiaa's")
    for key in ("move", "delete"):
        entries = plan.get(key, [])
        if not isinstance(entries, list):
            raise refuse(f"has a {key!r} entry that is not a list")
        for name in entries:
            known = isinstance(name, str) and (
                name in trusted or any(p.fullmatch(name) for p in _NAME_PATTERNS)
            )
            if not known:
                raise refuse(f"names {name!r}, which is not one of skiaa's output files")
        plan[key] = entries
    folder = journal.parent / staging
    if plan["move"] and os.path.lexists(folder) and (folder.is_symlink() or not folder.is_dir()):
        raise refuse(f"names the staging folder {staging!r}, which is not a folder")
    for name in plan["move"]:
        source = folder / name
        kind = "folder" if name in folders else "regular file"
        is_kind = source.is_dir() if name in folders else source.is_file()
        if os.path.lexists(source) and (source.is_symlink() or not is_kind):
            raise refuse(f"would move {str(source)!r}, which is not a {kind}")
    for name in plan["move"] + plan["delete"]:
        target = journal.parent / name
        if name not in folders and target.is_dir() and not target.is_symlink():
            raise refuse(f"would replace the folder {str(target)!r}")
    return plan


def _remove(path, folder):
    """Remove an old output: a file (or link), or a folder output as a whole."""
    if folder and path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _roll_forward(out_dir, plan, folders):
    """Carry out ``plan``; idempotent, so that a second pass after a kill is safe.

    Old outputs go first, all of them, then the new ones are renamed in: from
    the first deletion on no old file is left beside a new one. A staged
    output still present has not been moved yet, so the output of that name
    is an old one. (``os.replace`` cannot rename a folder onto a folder that
    holds files: the old folder output is removed before, as a file is.)
    """
    staging = out_dir / plan["staging"]
    pending = [n for n in plan["move"] if os.path.lexists(staging / n)]
    for name in plan["delete"] + pending:
        _remove(out_dir / name, name in folders)
    for name in pending:
        os.replace(staging / name, out_dir / name)
    (out_dir / _JOURNAL).unlink(missing_ok=True)
    if not staging.is_symlink():
        shutil.rmtree(staging, ignore_errors=True)


def _clean_leftovers(out_dir):
    """Remove what killed runs left in ``out_dir`` (its lock is held, no journal is pending)."""
    for path in out_dir.iterdir():
        name = path.name
        if _STAGING_NAME.fullmatch(name):
            if path.is_symlink() or not path.is_dir():
                path.unlink(missing_ok=True)
            else:
                shutil.rmtree(path, ignore_errors=True)
        elif name == _JOURNAL + ".tmp" or (
            name.startswith(".") and _TMP_MARKER in name and path.is_file()
        ):
            # Temporary files of skiaa versions that wrote beside the outputs.
            path.unlink(missing_ok=True)


def _holder(fd):
    """Who holds the lock of ``fd``, in words (its pid, host, start and command)."""
    text = ""
    for _ in range(20):  # the holder writes its name just after locking
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace")
        if text:
            break
        time.sleep(0.05)
    try:
        info = json.loads(text)
        return (
            f"another skiaa run (pid {info['pid']} on {info['host']}, started "
            f"{info['started']}: {info['command']})"
        )
    except (ValueError, KeyError, TypeError):
        return "another skiaa run"


def _command_line():
    """This process's command line, as a user would recognise it."""
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    if program in ("__main__.py", "skiaa"):
        program = "skiaa"
    return " ".join([program, *sys.argv[1:]])


def is_disk_full(exc):
    """Whether ``exc`` says that a disk (or a quota) is full."""
    return isinstance(exc, OSError) and exc.errno in DISK_FULL
