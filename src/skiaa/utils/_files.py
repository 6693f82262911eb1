"""Writing output files: permissions from the umask, checks before work, no mixed sets.

Three promises every command that writes files keeps:

- an output folder that cannot be written fails *before* any computation
  (:func:`check_output_dir`), with a one-line message;
- files get the permissions any other program would give them (``0666`` less
  the user's umask), although they are first written under a temporary name
  (:func:`tempfile.mkstemp` creates ``0600`` files);
- the files of one run are replaced as a set (:func:`write_outputs`): a reader
  finds either the previous run's files or this run's, never a new pairwise
  table beside an old image-level one.
"""

import os
import shutil
import tempfile
from pathlib import Path

# Marker in the names of temporary files, so that leftovers of a killed run
# are recognised (and removed) by the next one.
_TMP_MARKER = ".skiaa-tmp-"


def _umask():
    # os.umask can only be read by setting it; set it straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def umask_mode():
    """Permission bits of a new file under the current umask (``0o666 & ~umask``)."""
    return 0o666 & ~_umask()


def temporary_file(target):
    """Create an empty hidden temporary file beside ``target``; return its path.

    The file has :func:`umask_mode` permissions, so that renaming it onto
    ``target`` gives the same mode as writing ``target`` directly.
    """
    target = Path(target)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.stem}{_TMP_MARKER}", suffix=target.suffix, dir=target.parent
    )
    os.close(fd)
    os.chmod(tmp, umask_mode())
    return Path(tmp)


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
    FileExistsError
        If ``out`` is a file, or a file of ``names`` exists and not ``force``.
    NotADirectoryError
        If a parent of ``out`` is a file.
    PermissionError
        If ``out`` (or, when it does not exist, its nearest existing parent)
        is not writable.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{option} {out} exists and is not a folder")
    probe = out.absolute()
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise NotADirectoryError(f"{option} {out}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise PermissionError(f"{option} {out}: {probe} is not writable")
    existing = [str(out / name) for name in names if (out / name).exists()]
    if existing and not force:
        verb = "exists" if len(existing) == 1 else "exist"
        raise FileExistsError(f"{' and '.join(existing)} already {verb}; use --force to overwrite")
    return out


def _remove(path):
    """Remove a file or a folder of files (a folder output), if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _stage(target, folder):
    """A hidden temporary beside ``target``: an empty file, or an empty folder."""
    if not folder:
        return temporary_file(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}{_TMP_MARKER}", dir=target.parent))
    # mkdtemp creates 0700 folders; give the mode a plain mkdir would.
    os.chmod(tmp, 0o777 & ~_umask())
    return tmp


def write_outputs(out, writers):
    """Write a run's files into ``out`` so that they replace the old set as a whole.

    Every file is first written completely under a hidden temporary name in
    ``out``. Only then are the previous files of the set removed and the new
    ones renamed into place. An interruption before that point leaves the
    previous files untouched (and no temporary file, except after SIGKILL: the
    next call removes such leftovers); an interruption during the renames
    leaves some of the new files and none of the old ones. Never a mix.

    A name ending with ``/`` is a folder output (the thumbnails of a page):
    its writer fills an empty hidden temporary folder, which replaces the old
    folder as a whole, so that no file of an earlier run stays in it.

    Parameters
    ----------
    out : str or path-like
        Output folder, created if needed.
    writers : dict of str to callable
        File name -> function writing that file at the path it is given (a
        temporary path with the same suffix); folder name ending with ``/``
        -> function writing its files into the (temporary) folder it is given.

    Returns
    -------
    paths : list of pathlib.Path
        The files (and folders) written, in the order of ``writers``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    targets = {name: out / name.rstrip("/") for name in writers}
    for name, target in targets.items():
        pattern = (
            f".{target.name}{_TMP_MARKER}*"
            if name.endswith("/")
            else f".{target.stem}{_TMP_MARKER}*{target.suffix}"
        )
        for stale in out.glob(pattern):
            _remove(stale)
    staged = {}
    try:
        for name, write in writers.items():
            tmp = _stage(targets[name], name.endswith("/"))
            staged[name] = tmp
            write(tmp)
        # Old files first, all of them: from here on no old file is left
        # beside a new one.
        for target in targets.values():
            _remove(target)
        for name, tmp in staged.items():
            os.replace(tmp, targets[name])
    except BaseException:
        for tmp in staged.values():
            _remove(tmp)
        raise
    return list(targets.values())
