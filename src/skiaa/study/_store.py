"""The step store: JSON results of the study's steps under ``OUT/steps``."""

import hashlib
import json
import math
from pathlib import Path

import numpy as np


class _StepStore:
    """JSON results of the steps under ``OUT/steps``, keyed by their settings."""

    def __init__(self, out_dir, force):
        self.dir = Path(out_dir) / "steps"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.force = force
        self.reused = []

    @staticmethod
    def key(settings):
        text = json.dumps(settings, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _path(self, name):
        return self.dir / f"{name.replace('/', '__')}.json"

    def get(self, name, settings):
        path = self._path(name)
        if self.force or not path.is_file():
            return None
        stored = json.loads(path.read_text())
        if stored.get("key") != self.key(settings):
            return None
        self.reused.append(name)
        return stored["result"]

    def put(self, name, settings, result):
        """Store ``result`` (made JSON-safe by :func:`_clean`) and return what is stored."""
        settings, result = _clean(settings), _clean(result)
        payload = {"key": self.key(settings), "settings": settings, "result": result}
        tmp = self._path(name).with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, indent=1))
        tmp.replace(self._path(name))  # atomic: an interrupted run never leaves half a file
        return result


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
    return value
