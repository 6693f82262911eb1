"""The paper's experiment as its authors ran it: external fine-tuning, the paper's table,
the recipe and the dry run (``skiaa reproduce --preset paper --dry-run``)."""

import copy
from pathlib import Path

import numpy as np

from ._fits import _FitTask, _StepPlan
from ._steps import (
    _estimator_params,
    _fold_seeds,
    _folds,
    _image_size,
    _partition,
    _train_settings,
    _training_inputs,
    split_70_10_20,
)
from ._store import digest

#: Augmented passes over the training set per fine-tuning epoch (the authors').
FINETUNE_PASSES = {"isic2018": 1, "isic2019": 1, "ph2": 25, "derm7pt": 3, "synthetic": 3}

_LABELS = {
    "imaplusplus": "IMA++",
    "isic2018": "ISIC 2018",
    "isic2019": "ISIC 2019",
    "derm7pt": "derm7pt",
    "ph2": "PH2",
    "synthetic": "synthetic (shifted)",
}

# Forward GFLOPs per image at 224 px, from torchvision's model documentation (EfficientNet-B1
# scaled from its 240 px figure, Swin-V2-T given at 256 px).
_GFLOPS = {
    "tv_vgg16_bn": 15.47,
    "tv_resnet18": 1.81,
    "tv_resnet50": 4.09,
    "tv_densenet121": 2.83,
    "tv_mobilenet_v2": 0.30,
    "tv_mobilenet_v3_large": 0.22,
    "tv_efficientnet_b0": 0.39,
    "tv_efficientnet_b1": 0.60,
    "tv_convnext_tiny": 4.46,
    "tv_swin_t": 4.49,
    "tv_swin_v2_t": 5.94 * (224 / 256) ** 2,
    "tv_vit_b_16": 17.56,
    "tv_vit_b_32": 4.41,
}
# Image counts of the real releases: IMA++ (2,394 images, 2,385 with a diagnosis), and
# (train, val, test) of the external sets as skiaa's readers split them.
_SIZES = {
    "imaplusplus": 2385,
    "isic2018": (10015, 193, 1512),
    "isic2019": (25331, 0, 8238),
    "derm7pt": (413, 203, 395),
    "ph2": (140, 20, 40),
}


# ------------------------------------------------------------------- external data
class _External:
    def __init__(self, name, images, label, split, source, notes=()):
        self.name = name
        self.images = images
        self.y = np.where(np.asarray(label) == 1, "malignant", "benign").astype(object)
        self.split = np.asarray(split, dtype=object)
        self.source = source
        self.notes = list(notes)


def _load_external(name, folder, config, out_dir, verbose):
    """Images, melanoma labels (as IMA++'s classes) and train/val/test of one dataset."""
    if name == "synthetic":
        from ..datasets import make_external_lesions

        bunch = make_external_lesions(config.n_external, random_state=config.random_state + 1)
        return _External(
            name,
            bunch.images,
            bunch.label,
            bunch.split,
            f"make_external_lesions({config.n_external}, random_state={config.random_state + 1})",
        )
    from .. import datasets

    reader = {
        "isic2018": datasets.load_isic2018,
        "isic2019": datasets.load_isic2019,
        "derm7pt": datasets.load_derm7pt,
        "ph2": datasets.load_ph2,
    }[name]
    frame = reader(folder)
    split = frame["split"].astype(object).where(frame["split"].notna(), None).to_numpy()
    notes = []
    if not (split == "test").any():
        # No official test split (PH2; ISIC 2019 without its test ground truth): the
        # authors' protocol, one stratified 70/10/20 split by class counts.
        split = split_70_10_20(frame["label"].to_numpy(), config.split_seed)
        notes.append(f"{_LABELS[name]}: no official test split; stratified 70/10/20 split used")
    size = max(_image_size(m, config) for m in config.models)
    cache = Path(out_dir) / "cache" / name
    paths = list(frame["image_path"])
    images = datasets.load_images(paths, size, cache_dir=cache, verbose=verbose)
    source = f"{reader.__name__}({folder})"
    return _External(name, images, frame["label"].to_numpy(), split, source, notes)


# ------------------------------------------------------------------ fine-tuning
def _finetune_params(ext, config):
    from ..estimators import IMAGENET_MEAN, IMAGENET_STD

    return dict(
        warm_start=True,
        freeze_iaa_head=True,
        lr=config.finetune_lr,
        lr_step_size=config.finetune_step,
        lr_gamma=0.1,
        max_epochs=config.finetune_epochs,
        augment_passes=FINETUNE_PASSES[ext.name],
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        # The dataset's own validation images choose the best epoch (given to fit);
        # without any (ISIC 2019) the last epoch is kept, as the authors do.
        validation_fraction=None,
    )


def _load_externals(config, out_dir, verbose):
    """Every external dataset of ``config``, by name."""
    return {name: _load_external(name, folder, config, out_dir, verbose)
            for name, folder in config.external}  # fmt: skip


def _plan_external(agreement, data, externals, config, store, verbose):
    """Train on IMA++ as the diagnosis step does, fine-tune on each external set, score.

    One plan per (model, alpha), one fit per fold or run: the IMA++ model of
    that fold, then a fine-tuned copy of it per external dataset.
    """
    iaa = agreement["iaa"].to_numpy(dtype=float)
    known = np.isin(data.diagnosis, ["benign", "malignant"]) & np.isfinite(iaa)
    rows = np.flatnonzero(known)
    partition = _partition(agreement, data, config)
    folds = _folds(rows, data, config, partition)
    seeds = _fold_seeds(config, len(folds))
    ext_specs = {
        e.name: {"y": e.y, "split": e.split, "finetune": _finetune_params(e, config)}
        for e in externals.values()
    }
    plans = {}
    for model in config.models:
        for alpha in (1.0, *config.alphas):
            settings = {
                **_train_settings(config),
                "model": model,
                "alpha": alpha,
                "focal": config.focal,
                "external": config.external,
                "n_external": config.n_external,
                "finetune": [config.finetune_epochs, config.finetune_lr, config.finetune_step],
            }
            name = f"external/{model}/alpha={alpha:g}"
            inputs = _training_inputs(agreement, data, model, config)
            for e in externals.values():
                inputs[f"external_{e.name}"] = digest(e.images, e.y, e.split)

            def tasks(name=name, model=model, alpha=alpha, settings=settings, inputs=inputs):
                params = {**_estimator_params(model, config, verbose), "alpha": alpha,
                          "focal": config.focal}  # fmt: skip
                return _FitTask.per_fold(
                    name, _fit_external, params, folds, seeds, settings, inputs,
                    externals=ext_specs,
                )  # fmt: skip

            plans[(model, alpha)] = _StepPlan(
                store, name, settings, inputs, tasks, _assemble_external
            )
    return plans


def _fit_external(spec, device, arrays):
    """One fold or run: the IMA++ diagnosis model, then a fine-tuned copy per external set."""
    from sklearn.metrics import balanced_accuracy_score

    from ..estimators import MultiTaskDiagnosisClassifier

    images, y, iaa = arrays["images"], arrays["diagnosis"], arrays["iaa"]
    validation = arrays.get("validation")
    tr, te = spec["train"], spec["test"]
    clf = MultiTaskDiagnosisClassifier(**{**spec["params"], "device": device})
    clf.fit(
        images[tr], y[tr], iaa=None if clf.alpha == 1.0 else iaa[tr],
        validation=None if validation is None else validation[tr],
    )  # fmt: skip
    scores = {"imaplusplus": balanced_accuracy_score(y[te], clf.predict(images[te]))}
    for name, ext in spec["externals"].items():
        ext_images = arrays[f"external_{name}"]
        fit_rows = np.flatnonzero(np.isin(ext["split"], ["train", "val"]))
        test_rows = np.flatnonzero(ext["split"] == "test")
        is_val = ext["split"][fit_rows] == "val"
        tuned = copy.deepcopy(clf).set_params(**ext["finetune"])
        tuned.fit(
            ext_images[fit_rows], ext["y"][fit_rows],
            validation=is_val if is_val.any() else None,
        )  # fmt: skip
        pred = tuned.predict(ext_images[test_rows])
        scores[name] = balanced_accuracy_score(ext["y"][test_rows], pred)
    return scores


def _assemble_external(fits):
    scores = {name: [fit[name] for fit in fits] for name in fits[0] if name != "seconds"}
    return {"balanced_accuracy": scores, "seconds": sum(fit["seconds"] for fit in fits)}


def _external_results(plans, externals):
    """The external step's part of ``results.json``, from its finished plans."""
    results = {}
    for (model, alpha), plan in plans.items():
        results.setdefault(model, {})[f"{alpha:g}"] = plan.result
    return {"results": results, "sources": {e.name: e.source for e in externals.values()},
            "notes": [n for e in externals.values() for n in e.notes]}  # fmt: skip


# -------------------------------------------------------------------- the table
def _paper_table(external, alphas):
    """Balanced accuracy per dataset x architecture, diagnosis-only vs multi-task, gains.

    As the paper: each cell is the mean over runs; the gain of an alpha is the mean,
    over architectures and datasets (IMA++ and the external sets), of the difference
    multi-task minus diagnosis-only, in percentage points; its spread is the std over
    those cells.
    """
    res = external["results"]
    datasets = list(next(iter(next(iter(res.values())).values()))["balanced_accuracy"])
    cells, gains = [], {}
    for model, by_alpha in res.items():
        base = by_alpha["1"]["balanced_accuracy"]
        for ds in datasets:
            b = np.asarray(base[ds], float)
            row = {"dataset": ds, "model": model, "diagnosis_only": _ms(b)}
            for alpha in alphas:
                m = np.asarray(by_alpha[f"{alpha:g}"]["balanced_accuracy"][ds], float)
                row[f"{alpha:g}"] = _ms(m)
                gains.setdefault(f"{alpha:g}", []).append(100 * float(m.mean() - b.mean()))
            cells.append(row)
    summary = {
        a: {"mean_pp": float(np.mean(g)),
            "std_pp": float(np.std(g, ddof=1)) if len(g) > 1 else None,
            "n_cells": len(g), "cells_improved": int(np.sum(np.asarray(g) > 0))}
        for a, g in gains.items()
    }  # fmt: skip
    return {"rows": cells, "gain": summary, "datasets": datasets}


def _flat_rows(table):
    """The paper's table as flat records (one per dataset x architecture), for a CSV."""
    out = []
    for row in table["rows"]:
        flat = {"dataset": row["dataset"], "model": row["model"]}
        for key, cell in row.items():
            if isinstance(cell, dict):
                name = "diagnosis_only" if key == "diagnosis_only" else f"alpha={key}"
                flat[f"{name}_mean"], flat[f"{name}_std"] = cell["mean"], cell["std"]
        out.append(flat)
    return out


def _ms(values):
    values = np.asarray(values, float)
    std = float(values.std(ddof=1)) if len(values) > 1 else None
    return {"mean": float(values.mean()), "std": std, "n": len(values)}


def _fmt(cell):
    return f"{cell['mean']:.3f}" + ("" if cell["std"] is None else f" ± {cell['std']:.3f}")


def _table_lines(table, alphas):
    from ..nets import PAPER_BACKBONES

    head = "| dataset | model | diagnosis only | " + " | ".join(f"α={a:g}" for a in alphas) + " |"
    lines = [head, "|" + "---|" * (3 + len(alphas))]
    for row in table["rows"]:
        cells = " | ".join(_fmt(row[f"{a:g}"]) for a in alphas)
        label = _LABELS.get(row["dataset"], row["dataset"])
        model = (
            PAPER_BACKBONES[row["model"]].label
            if row["model"] in PAPER_BACKBONES
            else row["model"]
        )
        lines.append(f"| {label} | {model} | {_fmt(row['diagnosis_only'])} | {cells} |")
    lines += ["", "| α | mean gain (percentage points) | std over cells | cells improved |",
              "|---|---|---|---|"]  # fmt: skip
    for alpha, g in table["gain"].items():
        std = "n/a" if g["std_pp"] is None else f"{g['std_pp']:.1f}"
        lines.append(
            f"| {alpha} | {g['mean_pp']:+.1f} | {std} | {g['cells_improved']}/{g['n_cells']} |"
        )
    return lines


# -------------------------------------------------------------------- dry run
def _recipe_rows(config):
    """(aspect, this run, the authors') rows of the recipe table."""
    from ..nets import PAPER_BACKBONES

    split = (
        f"one fixed 70/10/20 partition per class (seed {config.split_seed}), shared by the "
        f"IAA regression and the diagnosis, validation fixed; {config.n_runs} runs differing "
        "by their training seed, test predictions pooled"
        if config.protocol == "split"
        else f"{config.cv}-fold stratified CV, 10 % inner validation"
    )
    from ._report import _normalization_of, _weights_of

    weights = "; ".join(f"{m}: {_weights_of(m, config)}" for m in config.models)
    labels = [PAPER_BACKBONES[m].label if m in PAPER_BACKBONES else m for m in config.models]
    sizes = sorted({_image_size(m, config) for m in config.models})
    ext = ", ".join(f"{_LABELS[n]} ({FINETUNE_PASSES[n]} passes)" for n, _ in config.external)
    return [
        ("backbones", ", ".join(labels), "13 torchvision ImageNet models; best three "
         "EfficientNet-B1, MobileNetV2, ResNet-18"),
        ("weights", weights, "torchvision ImageNet (pretrained=True: IMAGENET1K_V1)"),
        ("normalisation", _normalization_of(config), "IMA++ mean/std on IMA++, also with "
         "the ImageNet backbones; ImageNet mean/std on the external sets"),
        ("image size", " / ".join(f"{s} px" for s in sizes), "224 px bicubic (Swin-V2-T 256)"),
        ("split", split, "one fixed 70/10/20 split (seed 8888), 3 runs pooled"),
        ("optimiser", f"{config.optimizer}, lr {config.lr:g} /10 every {config.lr_step_size} "
         f"epochs, {config.max_epochs} epochs, batch {config.batch_size}",
         "SGD Nesterov 0.9, wd 1e-4, lr 0.01 /10 every 10 epochs, 50 epochs, batch 32"),
        ("passes per epoch", f"{config.augment_passes}", "3 augmented passes, drop_last"),
        ("augmentation", {True: "skiaa", False: "none"}.get(config.augment, config.augment),
         "rot90, flips, autocontrast, sharpness(2) p=0.5; blur k5 sigma 0.1 always"),
        ("focal loss", config.focal, "paper: -(1-p^w)^g w log p, batch mean, w = N/(K n_k)"),
        ("head init", config.head_init, "Kaiming normal, zero bias"),
        ("head warm-up", f"{config.head_warmup_epochs} epochs on frozen features",
         "none (heads and backbone trained together from the start)"),
        ("BatchNorm statistics", {True: "frozen", False: "updated"}.get(
            config.freeze_bn, f"{config.freeze_bn} (frozen with pretrained weights)"),
         "updated every training batch"),
        ("alpha sweep", ", ".join(f"{a:g}" for a in config.alphas) + " vs 1 (diagnosis only)",
         "0.1, 0.2, 0.5, 0.8, 0.9 vs diagnosis only"),
        ("precision", "bf16 autocast on CUDA (device " + config.device + ")",
         "fp16 with loss scaling"),
        ("fine-tuning", (f"{ext}: {config.finetune_epochs} epochs, lr {config.finetune_lr:g} "
                         f"/10 every {config.finetune_step}, IAA head frozen, focal only, "
                         "ImageNet mean/std") if ext else "none (no --external)",
         "ISIC 2018 (1), ISIC 2019 (1), derm7pt (3), PH2 (25 passes): 15 epochs, lr 1e-3 "
         "/10 every 3, IAA head frozen, focal only, ImageNet mean/std"),
    ]  # fmt: skip


def _forward_gflops(model, image_size):
    if model in _GFLOPS:
        return _GFLOPS[model] * (image_size / 224) ** 2
    # Any other timm model: count the FLOPs of one forward pass (multiply-adds x 2 / 2:
    # torch counts a multiply-add as 2 FLOPs, torchvision's table counts it as 1).
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from ..nets import create_backbone

    net = create_backbone(model).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.zeros(1, 3, image_size, image_size))
    return counter.get_total_flops() / 2 / 1e9


def estimate_gpu_time(config, *, gpu_tflops=40.0, images_per_second=3000.0):
    """A rough GPU time of a study, from the images it pushes through each network.

    Parameters
    ----------
    config : StudyConfig
        The study.
    gpu_tflops : float, default=40.0
        Sustained multiply-add throughput assumed, in tera multiply-adds per
        second (40: bf16 training of mid-sized CNNs on an A100-class GPU at a
        fraction of its peak; see Notes).
    images_per_second : float, default=3000.0
        The most images per second assumed for the input side (copy to the
        GPU, resize, augmentation): an architecture never goes faster.

    Returns
    -------
    estimate : dict
        ``seconds`` (total), ``per_model`` (seconds per architecture),
        ``images`` (training images processed per architecture), ``fits``
        (seconds of each of the study's fit tasks), ``assumptions``.

    Notes
    -----
    Per architecture: training images = epochs x passes x training rows, per
    fit; fits = runs (or folds) x (1 IAA regression + 1 + len(alphas)
    diagnosis fits), and as many again with external fine-tuning, which
    retrains the IMA++ models before fine-tuning each on every external set.
    A training image costs 3 forward passes (forward and backward), an
    evaluated one 1; a forward pass costs the architecture's multiply-adds
    (torchvision's documented GFLOPS for the paper's backbones, counted with
    :class:`torch.utils.flop_counter.FlopCounterMode` for others). An
    architecture's time is the larger of its arithmetic time and its image
    count over ``images_per_second``: small networks (MobileNets,
    EfficientNets) are bound by the input side rather than by arithmetic.
    Both numbers are assumptions, not measurements: the estimate says how
    long the run is likely to take to within a factor of a few.
    """
    n = _n_images(config)[0]
    n_fits = config.n_runs if config.protocol == "split" else config.cv
    train_frac = 0.8 if config.protocol == "split" else (config.cv - 1) / config.cv
    n_fit_rows = n * train_frac
    n_train, n_valid, n_test = n_fit_rows * 0.9, n_fit_rows * 0.1, n - n_fit_rows
    # (trained, evaluated) images of one IMA++ fit and of fine-tuning on all external sets
    fit = (config.max_epochs * config.augment_passes * n_train,
           config.max_epochs * n_valid + n_test)  # fmt: skip
    tune = [0.0, 0.0]
    for name, _ in config.external:
        if name == "synthetic":
            tr, va, te = 0.7 * config.n_external, 0.1 * config.n_external, 0.2 * config.n_external
        else:
            tr, va, te = _SIZES[name]
        tune[0] += config.finetune_epochs * FINETUNE_PASSES[name] * tr
        tune[1] += config.finetune_epochs * va + te
    n_diag = 1 + len(config.alphas)
    n_ima_fits = n_fits * (1 + n_diag * (2 if config.external else 1))
    n_tunes = n_fits * n_diag if config.external else 0
    trained = n_ima_fits * fit[0] + n_tunes * tune[0]
    evaluated = n_ima_fits * fit[1] + n_tunes * tune[1]
    per_model, images, fits = {}, {}, []
    for model in config.models:
        gflops = _forward_gflops(model, _image_size(model, config))

        def seconds(trained, evaluated, gflops=gflops):
            arithmetic = (3 * trained + evaluated) * gflops / (gpu_tflops * 1e3)
            return max(arithmetic, (trained + evaluated) / images_per_second)

        images[model] = int(trained + evaluated)
        per_model[model] = seconds(trained, evaluated)
        # The study's tasks: per run, one regression and n_diag diagnosis fits, and
        # with external sets n_diag more that retrain on IMA++ and then fine-tune.
        ima, tuned = seconds(*fit), seconds(*fit) + seconds(*tune)
        fits += [ima] * (n_fits * (1 + n_diag)) + [tuned] * n_tunes
    return {
        "seconds": float(sum(per_model.values())),
        "per_model": per_model,
        "images": images,
        "fits": fits,
        "assumptions": f"{gpu_tflops:g} T multiply-adds/s sustained, at most "
        f"{images_per_second:g} images/s; training image = 3 forward passes; multiply-adds "
        "per forward from torchvision's documentation (paper backbones) or counted (others)",
    }


def _n_images(config):
    """Images the training steps see, and where that number comes from.

    Synthetic: ``n_samples``. IMA++: the images with a benign or malignant
    diagnosis, counted in the release's tables when their folder is given,
    else the published release's 2,385.
    """
    if config.data == "synthetic":
        return config.n_samples, f"{config.n_samples} synthetic images (n_samples)"
    if config.imaplusplus is not None:
        from ..datasets import load_imaplusplus

        frame = load_imaplusplus(config.imaplusplus)
        n = int(frame["diagnosis"].isin(["benign", "malignant"]).sum())
        return n, f"{n:,} IMA++ images with a benign/malignant diagnosis ({config.imaplusplus})"
    n = _SIZES["imaplusplus"]
    return n, f"{n:,} IMA++ images with a benign/malignant diagnosis (the published release)"


def describe_study(config, *, gpu_tflops=40.0, images_per_second=3000.0):
    """The full recipe of a study and its estimated GPU time, as printable text.

    What ``skiaa reproduce --dry-run`` prints: nothing is trained or read.

    Parameters
    ----------
    config : StudyConfig
        The study.
    gpu_tflops : float, default=40.0
        Throughput assumed by :func:`estimate_gpu_time`.
    images_per_second : float, default=3000.0
        Input rate assumed by :func:`estimate_gpu_time`.

    Returns
    -------
    text : str
        A table of the recipe (this run vs the authors'), the steps, and the
        estimate with its assumptions.

    Examples
    --------
    >>> from skiaa.study import StudyConfig, describe_study
    >>> print(describe_study(StudyConfig.paper()))  # doctest: +ELLIPSIS
    Recipe (preset paper)...
    """
    rows = _recipe_rows(config)
    width = max(len(a) for a, _, _ in rows)
    lines = [f"Recipe (preset {config.preset})", ""]
    lines.append(f"{'aspect':<{width}}  this run | the authors' code")
    for aspect, ours, theirs in rows:
        lines.append(f"{aspect:<{width}}  {ours} | {theirs}")
    est = estimate_gpu_time(config, gpu_tflops=gpu_tflops, images_per_second=images_per_second)
    lines += ["", f"Estimated GPU time (a rough guide) for {_n_images(config)[1]}:"]
    for model, seconds in est["per_model"].items():
        lines.append(f"  {model}: {_hours(seconds)} ({est['images'][model]:,} images trained "
                     "or evaluated)")  # fmt: skip
    lines.append(f"  total: {_hours(est['seconds'])}")
    for n_workers, how in _workers(config):
        wall = _hours(_wall_seconds(est["fits"], n_workers))
        lines.append(f"  wall time on {n_workers} {how}, one fit each at a time: {wall}")
    lines.append(f"  how: {est['assumptions']}; each architecture takes the larger of its "
                 "arithmetic and image-rate times. Assumptions, not a measurement.")  # fmt: skip
    return "\n".join(lines)


def _workers(config):
    """(count, what) of the devices or workers the run spreads its fits over."""
    if config.devices:
        n = len(config.devices) if config.n_jobs == -1 else min(config.n_jobs, len(config.devices))
        return [(n, "devices")]
    if config.n_jobs > 1:
        return [(config.n_jobs, "Dask workers" if config.scheduler else "workers")]
    if config.scheduler or config.n_jobs == -1:
        what = "Dask workers" if config.scheduler else "devices or workers"
        return [(n, what) for n in (2, 4, 8)]  # the count is the cluster's or machine's
    return []


def _wall_seconds(fit_seconds, n_workers):
    """Wall time of fits of the given durations on ``n_workers``, longest first.

    Each worker takes the next fit as soon as it is free (what joblib does), so
    the time is that of the most loaded worker: never less than the longest fit
    or than the total shared out evenly.

    Parameters
    ----------
    fit_seconds : sequence of float
        Duration of each fit.
    n_workers : int
        Workers (devices) running one fit each at a time.

    Returns
    -------
    seconds : float
    """
    load = [0.0] * max(1, int(n_workers))
    for seconds in sorted(fit_seconds, reverse=True):
        load[load.index(min(load))] += seconds
    return max(load)


def _hours(seconds):
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
