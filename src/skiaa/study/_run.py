"""The driver of the study: :func:`run_study`."""

import dataclasses
import json
import time

import numpy as np
import pandas as pd

from ..utils import OUTPUT_NAMES, OutputFolder
from ._config import StudyConfig
from ._data import _load_data
from ._fits import _FitStore, _resolve_spread, _run_fits
from ._paper import _external_results, _flat_rows, _load_externals, _paper_table, _plan_external
from ._report import _plot_training, _write_report
from ._steps import (
    _estimator_params,
    _fit_params,
    _gain_by_alpha,
    _paired_differences,
    _partition,
    _plan_baselines,
    _plan_diagnosis,
    _plan_iaa_regression,
    _step_agreement,
    _step_statistics,
    write_figures,
)
from ._store import _clean, _StepStore

# The study's outputs, in commit order (results.json last).
OUTPUT_FILES = OUTPUT_NAMES["reproduce"]


def run_study(out_dir, config=None, *, force=False, wait=False, verbose=1):
    """Run the paper's study end to end and write its report.

    Parameters
    ----------
    out_dir : str or path-like
        Output folder: ``report.md``, ``results.json``, ``agreement.csv``, PNG
        figures and the cached step results in ``steps/``. Created when
        missing; checked to be writable before any work. A folder of an
        earlier run is resumed: a finished step whose settings and inputs (by
        content) did not change is read back. The outputs of the previous run
        are replaced only once every output of this run is written, so an
        interrupted run leaves them as they were. The folder is locked for the
        whole run: a second run on it fails at once, naming this one (or
        waits, with ``wait=True``).
    config : StudyConfig, default=None
        Settings; ``StudyConfig()`` (synthetic data) when None.
    force : bool, default=False
        Recompute every step even when a cached result exists.
    wait : bool, default=False
        When another skiaa run is writing to ``out_dir``, wait for it to end
        instead of raising.
    verbose : int, default=1
        0: silent; 1: one line per step and progress bars over models; 2: also
        the estimators' epoch tables.

    Returns
    -------
    results : dict
        Everything ``results.json`` holds: ``config``, ``data``, ``agreement``
        (summary), ``statistics``, ``iaa_regression``, ``diagnosis``,
        ``paired_differences``, ``gain``, ``external`` (with ``--external``),
        ``partition`` (split protocol), ``skipped``, ``reused_steps``
        and ``seconds``.

    Raises
    ------
    skiaa.OutputFolderError
        Before any work, if ``out_dir`` cannot be used (it is a file, lies
        below a file, cannot be written, or another run is writing to it and
        not ``wait``); during the run, if a file cannot be written (a full
        disk: the message names the folder and the file; the previous outputs
        are left as they were and no temporary file stays behind).
    ValueError
        If ``config.device`` names a device this machine does not have.
    sklearn.utils._param_validation.InvalidParameterError
        If an estimator setting of ``config`` (``lr``, ``freeze_bn``, ...) is
        one the estimators refuse (a ValueError); raised before any work.
    KeyboardInterrupt
        On Ctrl-C: the step that was running is not stored, the previous
        outputs are left unchanged, and a rerun computes the same numbers as an
        uninterrupted run.

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
    # Everything that can fail without computing is checked first.
    spread = None
    if _trains(config):
        for device in config.devices or (config.device,):
            _check_device(device)
        _check_estimator_settings(config)
        spread = _spread(config)
        # Fixed for the whole run and recorded: torch's CPU numbers depend on it.
        config = dataclasses.replace(config, torch_num_threads=spread.torch_num_threads)
    # After the device: a bad device creates no folder. On Ctrl-C or an error
    # the staged outputs are dropped and the previous ones stay as they were.
    say = print if verbose else None
    with OutputFolder(
        out_dir, OUTPUT_FILES, force=True, wait=wait, option="output folder", on_wait=say
    ) as outputs:
        results = _run(outputs, config, spread, force, verbose)
        outputs.commit()
    if verbose:
        print(f"Report: {outputs.path / 'report.md'} ({results['seconds']:.0f} s)")
    return results


def _trains(config):
    """Whether the run has images, hence the training steps."""
    return config.data == "synthetic" or config.images is not None


def _run(outputs, config, spread, force, verbose):
    """The steps; outputs are staged in ``outputs``, step results go to ``OUT/steps``."""
    out_dir = outputs.path
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
    outputs.write("agreement.csv", lambda path: agreement.to_csv(path, index=False))
    results["agreement"] = {
        "csv": "agreement.csv",
        "method": agreement.attrs["method"],
        "iaa_mean": float(np.nanmean(agreement["iaa"])),
        "iaa_median": float(np.nanmedian(agreement["iaa"])),
        "n_nan": int(agreement["iaa"].isna().sum()),
    }
    if data.table_iaa is not None:
        diff = np.nanmax(np.abs(agreement["iaa"].to_numpy(float) - data.table_iaa))
        results["agreement"]["max_abs_difference_to_release"] = float(diff)

    partition = _partition(agreement, data, config)
    if partition is not None:
        ids = np.asarray(data.ids).astype(str)
        results["partition"] = {
            part: ids[partition == part].tolist() for part in ("train", "val", "test")
        }
        results["partition"]["how"] = (
            f"one 70/10/20 partition of the images with an IAA, per diagnosis class "
            f"(seed {config.split_seed}); every run and step uses it, the diagnosis without "
            "the indeterminate images"
        )

    say("[3/6] statistics: benign vs malignant")
    statistics = dict(_step_statistics(agreement, data, config, store))
    figures = statistics.pop("figures")
    with outputs.writing(", ".join(figures)):
        write_figures(figures, outputs.staging)
    results["statistics"] = statistics

    if not _trains(config):
        reason = "needs images: pass the IMA++ image folder (--images DIR)"
        results["skipped"] = {"iaa_regression": reason, "diagnosis": reason}
        say(f"[4/6] IAA regression: skipped ({reason})")
        say(f"[5/6] diagnosis: skipped ({reason})")
    else:
        protocol = (
            f"{config.n_runs} runs on one fixed split"
            if config.protocol == "split"
            else f"{config.cv}-fold CV"
        )
        say(f"[4/6] IAA regression: {', '.join(config.models)} ({protocol})")
        regression = _plan_iaa_regression(agreement, data, config, store, verbose)
        say(f"[5/6] diagnosis: alpha=1 vs {list(config.alphas)} ({protocol})")
        diagnosis = _plan_diagnosis(agreement, data, config, store, verbose)
        say("      baselines: pixels (PCA + linear) and linear probes, same folds")
        baselines = _plan_baselines(agreement, data, config, store, verbose)
        plans = [*regression.values(), *diagnosis.values(), baselines]
        arrays = {
            "images": data.images,
            "iaa": agreement["iaa"].to_numpy(dtype=float),
            "diagnosis": data.diagnosis,
            **_fit_params(partition),
        }
        externals, external = {}, {}
        if config.external:
            names = ", ".join(name for name, _ in config.external)
            say(f"[5b/6] external fine-tuning: {names}")
            externals = _load_externals(config, out_dir, verbose)
            external = _plan_external(agreement, data, externals, config, store, verbose)
            plans += external.values()
            arrays.update({f"external_{n}": e.images for n, e in externals.items()})
        n_fits = sum(len(plan.tasks) for plan in plans)
        say(f"      {n_fits} fits to run or read back ({_describe(spread)})")
        fit_store = _FitStore(out_dir, force)
        results["parallel"] = _run_fits(plans, arrays, fit_store, spread, config, verbose)
        results["iaa_regression"] = {m: p.result for m, p in regression.items()}
        results["diagnosis"] = {}
        for (model, alpha), plan in diagnosis.items():
            results["diagnosis"].setdefault(model, {})[f"{alpha:g}"] = plan.result
        results["baselines"] = baselines.result
        paired = _paired_differences(results["diagnosis"], config.alphas)
        results["paired_differences"] = paired
        results["gain"] = _gain_by_alpha(results["diagnosis"], config.alphas)
        if config.external:
            external = _external_results(external, externals)
            external["table"] = _paper_table(external, config.alphas)
            results["external"] = external
            table = pd.DataFrame(_flat_rows(external["table"]))
            outputs.write("paper_table.csv", lambda path: table.to_csv(path, index=False))

    say("[6/6] report")
    with outputs.writing("iaa_regression.png, diagnosis.png"):
        _plot_training(results, outputs.staging)
    results["reused_steps"] = list(store.reused)
    results["seconds"] = time.perf_counter() - start
    results = _clean(results)
    text = json.dumps(results, indent=1)
    outputs.write("results.json", lambda path: path.write_text(text, encoding="utf-8"))
    outputs.write("report.md", lambda path: _write_report(results, config, path.parent))
    return results


def _spread(config):
    """How this machine (or the Dask cluster) runs the fits of ``config``."""
    import joblib
    import torch

    n_cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return _resolve_spread(
        config, n_cpus=joblib.cpu_count(), n_cuda=n_cuda, default_threads=torch.get_num_threads()
    )


def _describe(spread):
    """One line saying where the fits run."""
    threads = f"{spread.torch_num_threads} torch thread(s) each"
    if spread.backend == "dask":
        return f"on the Dask cluster at {spread.scheduler}, {threads}"
    where = f"{spread.n_workers} worker process(es)" if spread.backend == "loky" else "in order"
    devices = f" on {', '.join(spread.devices)}, one fit per device" if spread.devices else ""
    return f"{where}{devices}, {threads}"


def _check_estimator_settings(config):
    """Refuse a setting the estimators would refuse at their first ``fit``, before any work.

    The estimators' own parameter constraints decide (one place for them);
    without this a typo in, say, ``freeze_bn`` surfaced only after the data,
    agreement and statistics steps.
    """
    from sklearn.utils._param_validation import InvalidParameterError

    from ..estimators import IAARegressor, MultiTaskDiagnosisClassifier

    for model in config.models:
        params = _estimator_params(model, config, verbose=0)
        for estimator in (IAARegressor(**params), MultiTaskDiagnosisClassifier(**params)):
            try:
                estimator._validate_params()
            except InvalidParameterError as exc:
                raise InvalidParameterError(f"StudyConfig: {exc}") from None


def _check_device(device):
    """Refuse a device this machine does not have, before any work."""
    # The estimators resolve "auto" and refuse unknown or absent devices; the
    # study asks them first, so that a typo costs a second, not a data step.
    from ..estimators._base import resolve_device

    resolve_device(device)
