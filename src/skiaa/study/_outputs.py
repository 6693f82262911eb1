"""The study's output folder: checked before any work, replaced in one commit.

A run writes its outputs (``report.md``, ``results.json``, ``agreement.csv``,
the figures) into ``OUT/.skiaa-staging/``; they replace the outputs of the
previous run only once all of them are written. The replacement is a
roll-forward commit: a journal (``OUT/.skiaa-commit.json``) listing the files
to move and the stale outputs to delete is written atomically first, then the
files are moved (``os.replace``, each atomic) and the journal deleted. A run
killed before the journal exists leaves the previous outputs untouched (the
staging folder is deleted by the next run); one killed during the moves, a
window of milliseconds, leaves the journal, and the next run with the same
``OUT`` completes the moves before anything else (issue 8 item 5: an
interrupted rerun used to leave ``agreement.csv`` and ``ecdf.png`` of the new
seed beside ``report.md`` of the old one).
"""

import json
import os
import shutil
import tempfile
from pathlib import Path

#: Every file a run of the study writes to its output folder. A file of this
#: list that a run does not write (``iaa_regression.png`` when training was
#: skipped) is deleted at commit, so that no figure of another run remains.
OUTPUT_FILES = (
    "report.md",
    "results.json",
    "agreement.csv",
    "ecdf.png",
    "agreement_by_factor.png",
    "iaa_regression.png",
    "diagnosis.png",
)
_STAGING = ".skiaa-staging"
_JOURNAL = ".skiaa-commit.json"


def check_out_dir(out_dir):
    """Create ``out_dir`` if needed and check that files can be written in it.

    Called before any work, so that an unusable output folder fails in a
    second rather than after an hour of training.

    Parameters
    ----------
    out_dir : str or path-like
        The folder.

    Returns
    -------
    out_dir : Path

    Raises
    ------
    NotADirectoryError
        ``out_dir`` is a file, or a path below a file.
    PermissionError
        The folder cannot be created or written to.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"output folder {str(out_dir)!r} exists and is not a folder")
    for parent in out_dir.parents:
        if parent.exists() and not parent.is_dir():
            raise NotADirectoryError(
                f"output folder {str(out_dir)!r} is below {str(parent)!r}, which is a file"
            )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir, prefix=".skiaa-write-test-"):
            pass
    except PermissionError as exc:
        raise PermissionError(
            f"output folder {str(out_dir)!r} is not writable ({exc.strerror or exc})"
        ) from None
    except OSError as exc:  # read-only file system, ...
        raise PermissionError(
            f"output folder {str(out_dir)!r} cannot be written to ({exc.strerror or exc})"
        ) from None
    return out_dir


class _Outputs:
    """Staging folder and commit of one run's outputs (see the module docstring)."""

    def __init__(self, out_dir):
        self.out_dir = Path(out_dir)
        self.staging = self.out_dir / _STAGING
        self.journal = self.out_dir / _JOURNAL

    def begin(self):
        """Finish an interrupted commit, then start an empty staging folder."""
        recover(self.out_dir)
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir()
        return self.staging

    def abandon(self):
        """Drop the staging folder of a run that did not finish."""
        shutil.rmtree(self.staging, ignore_errors=True)

    def commit(self):
        """Replace the folder's outputs by the staged ones."""
        written = sorted(p.name for p in self.staging.iterdir())
        unknown = set(written) - set(OUTPUT_FILES)
        if unknown:  # a new output must be added to OUTPUT_FILES to be cleaned up later
            raise RuntimeError(f"outputs {sorted(unknown)} are not in OUTPUT_FILES")
        # results.json last: whoever reads it finds every other file already there.
        order = [n for n in OUTPUT_FILES if n in written and n != "results.json"]
        order += ["results.json"] if "results.json" in written else []
        plan = {"move": order, "delete": [n for n in OUTPUT_FILES if n not in written]}
        tmp = self.journal.with_name(self.journal.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(plan, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.journal)
        _roll_forward(self.out_dir, plan)


def recover(out_dir):
    """Complete a commit that was interrupted; drop the staging folder of an unfinished run.

    Parameters
    ----------
    out_dir : path-like
        The study's output folder.

    Returns
    -------
    recovered : bool
        Whether an interrupted commit was completed.
    """
    out_dir = Path(out_dir)
    journal = out_dir / _JOURNAL
    if not journal.is_file():
        shutil.rmtree(out_dir / _STAGING, ignore_errors=True)
        (out_dir / (_JOURNAL + ".tmp")).unlink(missing_ok=True)
        return False
    # Written by os.replace, so complete; read errors are real errors.
    plan = json.loads(journal.read_text(encoding="utf-8"))
    _roll_forward(out_dir, plan)
    return True


def _roll_forward(out_dir, plan):
    """Carry out ``plan``; idempotent, so that a second pass after a kill is safe."""
    staging = out_dir / _STAGING
    for name in plan["move"]:
        if (staging / name).exists():
            os.replace(staging / name, out_dir / name)
    for name in plan["delete"]:
        (out_dir / name).unlink(missing_ok=True)
    (out_dir / _JOURNAL).unlink(missing_ok=True)
    shutil.rmtree(staging, ignore_errors=True)
