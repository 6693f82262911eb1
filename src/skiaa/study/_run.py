"""The driver of the study: :func:`run_study`."""

import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ._config import StudyConfig
from ._data import _load_data
from ._report import _plot_training, _write_report
from ._steps import (
    _paired_differences,
    _step_agreement,
    _step_baselines,
    _step_diagnosis,
    _step_iaa_regression,
    _step_statistics,
)
from ._store import _clean, _StepStore


def run_study(out_dir, config=None, *, force=False, verbose=1):
    """Run the paper's study end to end and write its report.

    Parameters
    ----------
    out_dir : str or path-like
        Output folder: ``report.md``, ``results.json``, PNG figures and the
        cached step results in ``steps/``. Created when missing. A folder of an
        earlier run is resumed: finished steps whose settings did not change
        are read back.
    config : StudyConfig, default=None
        Settings; ``StudyConfig()`` (synthetic data) when None.
    force : bool, default=False
        Recompute every step even when a cached result exists.
    verbose : int, default=1
        0: silent; 1: one line per step and progress bars over models; 2: also
        the estimators' epoch tables.

    Returns
    -------
    results : dict
        Everything ``results.json`` holds: ``config``, ``data``, ``agreement``
        (summary), ``statistics``, ``iaa_regression``, ``diagnosis``,
        ``paired_differences``, ``overall_gain``, ``skipped``, ``reused_steps``
        and ``seconds``.

    See Also
    --------
    skiaa.AgreementTransformer, skiaa.stats.compare_groups, skiaa.IAARegressor,
    skiaa.MultiTaskDiagnosisClassifier

    Examples
    --------
    The statistics of the real IMA++ tables take seconds (no images needed)::

        from skiaa.study import StudyConfig, run_study
        results = run_study("out", StudyConfig(data="imaplusplus", imaplusplus="tables/"))
    """
    config = StudyConfig() if config is None else config
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    store = _StepStore(out_dir, force)
    start = time.perf_counter()
    say = print if verbose else (lambda *a, **k: None)

    say(f"[1/6] data ({config.data})")
    data = _load_data(config, out_dir, verbose)
    groups = pd.Series(data.diagnosis).value_counts().to_dict()
    results = {
        "config": config.to_dict(),
        "data": {
            "source": data.source,
            "n_images": len(data.ids),
            "groups": {str(k): int(v) for k, v in groups.items()},
            "notes": data.notes,
        },
        "skipped": {},
    }

    say("[2/6] agreement")
    agreement = _step_agreement(data, config, store, verbose)
    agreement.to_csv(out_dir / "agreement.csv", index=False)
    results["agreement"] = {
        "csv": "agreement.csv",
        "iaa_mean": float(np.nanmean(agreement["iaa"])),
        "iaa_median": float(np.nanmedian(agreement["iaa"])),
        "n_nan": int(agreement["iaa"].isna().sum()),
    }
    if data.table_iaa is not None:
        diff = np.nanmax(np.abs(agreement["iaa"].to_numpy(float) - data.table_iaa))
        results["agreement"]["max_abs_difference_to_release"] = float(diff)

    say("[3/6] statistics: benign vs malignant")
    results["statistics"] = _step_statistics(agreement, data, config, store, out_dir)

    if data.images is None:
        reason = "needs images: pass the IMA++ image folder (--images DIR)"
        results["skipped"] = {"iaa_regression": reason, "diagnosis": reason}
        say(f"[4/6] IAA regression: skipped ({reason})")
        say(f"[5/6] diagnosis: skipped ({reason})")
    else:
        say(f"[4/6] IAA regression: {', '.join(config.models)} ({config.cv}-fold CV)")
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*Validation split not stratified.*")
            results["iaa_regression"] = _step_iaa_regression(
                agreement, data, config, store, verbose
            )
            say(f"[5/6] diagnosis: alpha=1 vs {list(config.alphas)} ({config.cv}-fold CV)")
            results["diagnosis"] = _step_diagnosis(agreement, data, config, store, verbose)
            say("      baselines: pixels (PCA + linear) and linear probes, same folds")
            results["baselines"] = _step_baselines(agreement, data, config, store, verbose)
        paired = _paired_differences(results["diagnosis"], config.alphas)
        results["paired_differences"] = paired
        all_diffs = [v for m in paired.values() for a in m.values() for v in a["per_fold"]]
        results["overall_gain"] = {
            "mean": float(np.mean(all_diffs)),
            "std": float(np.std(all_diffs, ddof=1)) if len(all_diffs) > 1 else float("nan"),
            "n": len(all_diffs),
        }

    say("[6/6] report")
    _plot_training(results, out_dir)
    results["reused_steps"] = list(store.reused)
    results["seconds"] = time.perf_counter() - start
    results = _clean(results)
    (out_dir / "results.json").write_text(json.dumps(results, indent=1))
    _write_report(results, config, out_dir)
    say(f"Report: {out_dir / 'report.md'} ({results['seconds']:.0f} s)")
    return results
