"""The step store: JSON results of the study's steps under ``OUT/steps``.

Every cached result is keyed by the *content* of what produced it: the step's
settings, a digest of every input it read (the bytes of the files, the values
of the arrays and tables) and of the upstream results it used, and skiaa's
version. Paths are not part of a key: a release moved to another folder is
still recognised, and a file edited in place is not (a cache keyed by paths
would serve statistics of the old labels after ``benign_malignant`` is edited).
"""

import hashlib
import json
import math
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .._version import __version__
from ..utils import writing

__all__ = ["StepCacheWarning"]

# Bumped when the layout of a stored step changes, so that old files are misses.
_FORMAT = 2
# Rows of an image array hashed at once: bounds the memory of hashing a
# memory-mapped image cache (the whole array is never copied).
_CHUNK_BYTES = 1 << 24


class StepCacheWarning(UserWarning):
    """A cached step result could not be read: it is ignored and recomputed.

    The message names the file and what was wrong with it (truncated JSON, a
    missing field, an unreadable file).
    """


# ---------------------------------------------------------------------- hashing
def _update(h, value):
    """Feed ``value`` into the hash ``h``, tagged with its kind.

    Tags keep values of different kinds apart (the string ``"1"`` is not the
    integer ``1``, a list of two arrays is not their concatenation).
    """
    if isinstance(value, _Digest):
        h.update(b"D" + value.hex.encode())
    elif isinstance(value, Path):
        h.update(b"F")
        h.update(_file_digest(value).encode())
    elif isinstance(value, pd.DataFrame):
        h.update(b"T")
        _update(h, [str(c) for c in value.columns])
        _update(h, [str(t) for t in value.dtypes])
        _update(h, pd.util.hash_pandas_object(value, index=False).to_numpy())
    elif isinstance(value, pd.Series):
        _update(h, value.to_frame())
    elif isinstance(value, np.ndarray) and value.dtype != object:
        h.update(b"A" + f"{value.dtype.str}{value.shape}".encode())
        flat = value.reshape(len(value), -1) if value.ndim else value.reshape(1, 1)
        step = max(1, _CHUNK_BYTES // max(1, flat[:1].nbytes))
        for start in range(0, len(flat), step):
            h.update(np.ascontiguousarray(flat[start : start + step]).tobytes())
    elif isinstance(value, (list, tuple, np.ndarray)):
        h.update(b"L" + str(len(value)).encode())
        for item in value:
            _update(h, item)
    elif isinstance(value, dict):
        h.update(b"M" + str(len(value)).encode())
        for key in sorted(value, key=str):
            _update(h, str(key))
            _update(h, value[key])
    else:
        # Scalars: JSON text of their Python value (numpy scalars included).
        value = _clean(value)
        h.update(b"S" + json.dumps(value, sort_keys=True, default=str).encode() + b";")


def _file_digest(path):
    """SHA-256 of the bytes of the file at ``path``."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class _Digest:
    """A content digest, usable as an input of another digest or key."""

    __slots__ = ("hex",)

    def __init__(self, hex_):
        self.hex = hex_

    def __repr__(self):
        return f"_Digest({self.hex[:12]})"


def digest(*values):
    """Content digest of ``values`` (arrays, tables, files given as Path, JSON values).

    Parameters
    ----------
    *values
        What to hash. A :class:`pathlib.Path` stands for the bytes of the file
        it names; arrays for their dtype, shape and values; data frames for
        their columns, dtypes and values.

    Returns
    -------
    digest : _Digest
        Equal for equal content, whatever the paths or object identities.
    """
    h = hashlib.sha256()
    _update(h, list(values))
    return _Digest(h.hexdigest())


# ------------------------------------------------------------------------ store
class _StepStore:
    """JSON results of the steps under ``OUT/steps``, keyed by their content.

    Parameters
    ----------
    out_dir : path-like
        The study's output folder; results go to ``out_dir/steps``.
    force : bool
        Ignore stored results (they are overwritten by the new ones).

    Notes
    -----
    :meth:`put` is the only writer and writes a temporary file that it then
    renames over the result: a stored file is either complete or absent, so an
    interrupted step leaves no result behind and is computed again. A file that
    cannot be read anyway (truncated by a full disk, edited by hand) is a miss:
    :meth:`get` warns with :class:`StepCacheWarning`, naming the file, and the
    step is recomputed and the file rewritten.
    """

    def __init__(self, out_dir, force):
        self.dir = Path(out_dir) / "steps"
        self.dir.mkdir(parents=True, exist_ok=True)
        # Temporary files of a killed run (the study holds the folder's lock:
        # no other run is writing here).
        for leftover in self.dir.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)
        self.force = force
        self.reused = []

    @staticmethod
    def key(name, settings, inputs):
        """Key of step ``name``: its settings, the digests of its inputs, skiaa's version."""
        return digest(_FORMAT, __version__, name, settings, inputs).hex

    def _path(self, name):
        return self.dir / f"{name.replace('/', '__')}.json"

    def get(self, name, settings, inputs):
        """The stored result of ``name`` when its key matches, else None.

        Parameters
        ----------
        name : str
            Step name (``"agreement"``, ``"diagnosis/resnet18/alpha=0.5"``).
        settings : dict
            JSON-safe settings the result depends on.
        inputs : dict of str to _Digest
            Digests of the inputs the step reads.

        Returns
        -------
        result : dict or None
        """
        path = self._path(name)
        if self.force or not path.exists():
            return None
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(stored, dict):
                raise ValueError(f"expected a JSON object, found {type(stored).__name__}")
            missing = [k for k in ("key", "result") if k not in stored]
            if missing:
                raise ValueError(f"missing field(s) {missing}")
        except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError too
            warnings.warn(
                f"Ignoring the unreadable cached step {path} ({exc}); recomputing it.",
                StepCacheWarning,
                stacklevel=3,
            )
            return None
        if stored["key"] != self.key(name, settings, inputs):
            return None
        self.reused.append(name)
        return stored["result"]

    def put(self, name, settings, inputs, result):
        """Store ``result`` (made JSON-safe by :func:`_clean`) and return what is stored."""
        settings, result = _clean(settings), _clean(result)
        payload = {
            "format": _FORMAT,
            "skiaa": __version__,
            "key": self.key(name, settings, inputs),
            # For people reading the folder: what the key was made of.
            "settings": settings,
            "inputs": {k: v.hex for k, v in inputs.items()},
            "result": result,
        }
        path = self._path(name)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        # A full disk: one error naming the file, and no temporary file left.
        with writing(f"the step result {path.name}", self.dir):
            try:
                tmp.write_text(json.dumps(payload, indent=1), encoding="utf-8")
                tmp.replace(path)  # atomic: a reader sees the old file or the new one
            finally:
                tmp.unlink(missing_ok=True)
        return result


def result_digest(result):
    """Digest of a step's (JSON-safe) result, used as an input of the steps after it."""
    return digest(json.dumps(_clean(result), sort_keys=True))


def _clean(value):
    """A JSON-safe copy: numpy scalars and arrays as Python values, NaN -> None."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_clean(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value
