"""Step 6 of the study: ``report.md`` and the training figures."""

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure


def _mean_std(values):
    values = np.asarray([np.nan if v is None else v for v in values], float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return "n/a"
    if values.size == 1:
        return f"{values[0]:.3f}"
    return f"{values.mean():.3f} ± {values.std(ddof=1):.3f}"


def _mean_std_pair(mean, std):
    if mean is None:
        return "n/a"
    return f"{mean:.3f}" if std is None else f"{mean:.3f} ± {std:.3f}"


def _plot_training(results, out_dir):
    reg, diag = results.get("iaa_regression"), results.get("diagnosis")
    baselines = results.get("baselines") or {}
    if reg:
        # Networks first, then the baselines that fine-tune nothing (pixels, probes).
        entries = {**reg, **baselines.get("iaa_regression", {})}
        names = list(entries)
        fig = Figure(figsize=(max(6.0, 1.5 + 1.5 * len(names)), 4.2))
        ax = fig.subplots()
        x = np.arange(len(names))
        for offset, key, label, color in (
            (-0.18, "baseline_mae", "median-IAA baseline", "0.65"),
            (0.18, "mae", "predictions of the column's model", "tab:blue"),
        ):
            vals = [[f[key] for f in entries[m]["folds"]] for m in names]
            ax.bar(x + offset, [np.mean(v) for v in vals], 0.34, color=color, label=label)
            for xi, v in zip(x, vals):
                ax.plot(np.full(len(v), xi + offset), v, "k.", ms=4)
        ax.set_xticks(x, [_name(n).replace(" (", "\n(") for n in names], fontsize=8)
        ax.set_ylabel("MAE of predicted IAA (lower is better)")
        ax.set_title("Predicting agreement from the image\n(bars: mean over folds; dots: folds)")
        ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout()
        fig.savefig(Path(out_dir) / "iaa_regression.png", dpi=150)
    if diag:
        models = list(diag)
        base = baselines.get("diagnosis", {})
        width = max(6.0, 3.4 * len(models))
        fig = Figure(figsize=(width, 4.2))
        axes = np.atleast_1d(fig.subplots(1, len(models), sharey=True))
        for ax, model in zip(axes, models):
            alphas = list(diag[model])
            scores = np.array([diag[model][a]["balanced_accuracy"] for a in alphas])
            for k, fold in enumerate(scores.T):  # paired: one line per fold
                ax.plot(range(len(alphas)), fold, "-o", color="0.6", ms=4, lw=1,
                        label="network, one fold" if k == 0 else None)  # fmt: skip
            ax.plot(range(len(alphas)), scores.mean(axis=1), "-s", color="tab:red", lw=2,
                    label="network, mean over folds")  # fmt: skip
            ax.axhline(0.5, color="0.3", lw=0.8, ls=":", label="chance")
            for name, style in (("pixels", "--"), (f"linear probe ({model})", "-.")):
                if name in base:
                    ax.axhline(np.mean(base[name]["balanced_accuracy"]), color="tab:green",
                               lw=1, ls=style, label=name.split(" (")[0])  # fmt: skip
            ax.set_xticks(range(len(alphas)), [f"α={a}" for a in alphas])
            ax.set_xlim(-0.4, len(alphas) - 0.6)
            ax.set_title(_name(model), fontsize=10)
        axes[0].set_ylabel("balanced accuracy")
        axes[-1].legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.suptitle("Diagnosis only (α=1) vs with IAA as auxiliary target (α<1)", fontsize=10)
        fig.tight_layout()
        fig.savefig(Path(out_dir) / "diagnosis.png", dpi=150)


def _write_report(results, config, out_dir):
    lines = ["# skiaa reproduce: inter-annotator agreement study", ""]
    lines += [
        "Reproduction of Abhishek, Kawahara & Hamarneh, *What Can We Learn from "
        "Inter-Annotator Variability in Skin Lesion Segmentation?* (arXiv:2508.09381) "
        "with skiaa. Every number below comes from this run; ± is the standard "
        + (
            f"deviation over the {config.n_runs} runs on one fixed split (the authors' "
            "protocol), except where a column says otherwise."
            if config.protocol == "split"
            else "deviation over cross-validation folds."
        ),
        "",
        f"- Data: {results['data']['source']} ({results['data']['n_images']} images: "
        + ", ".join(f"{k} {v}" for k, v in results["data"]["groups"].items())
        + ")",
        "- Settings: "
        + ", ".join(f"{k}=`{v}`" for k, v in config.to_dict().items() if v is not None),
    ]
    lines.append(
        "- Precision: bf16 autocast when training on CUDA, float32 on the CPU (the authors: "
        "fp16 with loss scaling)."
    )
    if config.preset == "paper":
        random = [m for m in config.models if _weights_of(m, config) == "random initialisation"]
        if random:
            lines.append(
                f"- Warning: {', '.join(random)} started from random weights; the paper "
                "starts every backbone from torchvision's ImageNet weights."
            )
    lines.append(
        "- Weights: " + "; ".join(f"{_name(m)}: {_weights_of(m, config)}" for m in config.models)
    )
    lines.append(f"- Input statistics: {_normalization_of(config)}")
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
        unit = "runs" if config.protocol == "split" else "folds"
        lines += [
            f"| model | MAE (mean ± std over {unit}) | median-IAA baseline MAE "
            "| Pearson r | fit time (s) |",
            "|---|---|---|---|---|",
        ]
        base = (results.get("baselines") or {}).get("iaa_regression", {})
        rows = [(_name(m), r, f"{r['seconds']:.0f}") for m, r in reg.items()]
        rows += [(f"*{name}*", r, "") for name, r in base.items()]
        for name, res, seconds in rows:
            folds = res["folds"]
            lines.append(
                f"| {name} | {_mean_std([f['mae'] for f in folds])} | "
                f"{_mean_std([f['baseline_mae'] for f in folds])} | "
                f"{_mean_std([f['pearson_r'] for f in folds])} | {seconds} |"
            )
        if base:
            lines += ["", _BASELINES_NOTE]
        lines += [
            "",
            f"The authors' evaluation, on the test predictions pooled over the {unit} (as "
            "their `compute_test_metrics.py`): MAE ± the sample standard deviation of the "
            'signed residuals true − predicted (their "MAE ± x"); p-values of Mann-Whitney '
            "U and two-sample KS tests of predicted against true IAA, and of a Mann-Whitney "
            "U test of the predicted IAA of malignant against benign images (indeterminate "
            "images left out; their script counts them as benign).",
            "",
            "| model | MAE ± std of signed residuals | n | predicted vs true: MWU p | KS p "
            "| predicted, malignant vs benign: MWU p |",
            "|---|---|---|---|---|---|",
        ]
        for model, res in reg.items():
            a = res["authors"]
            vs, mb = a["predicted_vs_true"], a["predicted_malignant_vs_benign"]
            lines.append(
                f"| {_name(model)} | {_mean_std_pair(a['mae'], a['std_signed_residual'])} | "
                f"{a['n']} | {_p(vs['mannwhitneyu_pvalue'])} | {_p(vs['ks_pvalue'])} | "
                f"{_p(mb['mannwhitneyu_pvalue'])} ({mb['n_malignant']} vs {mb['n_benign']}) |"
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
            "| model | α | balanced accuracy | gain over α=1, percentage points (paired) "
            "| folds improved |",
            "|---|---|---|---|---|",
        ]
        paired = results["paired_differences"]
        for model, by_alpha in diag.items():
            for alpha, res in by_alpha.items():
                if alpha == "1":
                    gain, improved = "baseline", ""
                else:
                    d = paired[model][alpha]
                    std = "n/a" if d["std"] is None else f"{100 * d['std']:.1f}"
                    gain = f"{100 * d['mean']:+.1f} ± {std}"
                    improved = f"{d['folds_improved']}/{d['n_folds']}"
                lines.append(
                    f"| {_name(model)} | {alpha} | {_mean_std(res['balanced_accuracy'])} | "
                    f"{gain} | {improved} |"
                )
        base = (results.get("baselines") or {}).get("diagnosis", {})
        for name, res in base.items():
            lines.append(f"| *{name}* | | {_mean_std(res['balanced_accuracy'])} | | |")
        if base:
            lines += ["", _BASELINES_NOTE]
        gain = results.get("gain")
        if gain:
            unit = "runs" if config.protocol == "split" else "folds"
            lines += [
                "",
                "Gain in balanced accuracy over α=1, in percentage points, per α: the mean "
                f"over architectures of the difference of their means over {unit}, on "
                "this run's data alone (the paper's figure also averages over the external "
                "datasets: section 4 with `--external`).",
                "",
                "| α | " + " | ".join(_name(m) for m in diag) + " | mean over architectures |",
                "|---|" + "---|" * (len(diag) + 1),
            ]
            for alpha, g in gain.items():
                cells = " | ".join(f"{g['per_model_pp'][m]:+.1f}" for m in diag)
                lines.append(f"| {alpha} | {cells} | {g['mean_pp']:+.1f} |")
        lines += ["", "![Diagnosis](diagnosis.png)", ""]
    external = results.get("external")
    if external:
        from ._paper import _table_lines

        lines += ["## 4. The paper's table: IMA++ and external datasets after fine-tuning", ""]
        lines += [
            "Balanced accuracy on each dataset's test split, mean ± std over "
            f"{'runs' if config.protocol == 'split' else 'folds'}; external sets after "
            "fine-tuning the IMA++ model (IAA head frozen, focal loss alone, ImageNet "
            "mean/std). The gain of an α is computed as the paper does: the mean over "
            "architectures and datasets (IMA++ and the external sets) of multi-task minus "
            "diagnosis-only; its std is over those cells. No α is singled out: choosing the "
            "best one on these test scores would overstate the gain.",
            "",
        ]
        lines += _table_lines(external["table"], config.alphas)
        lines += [""]
        lines += [f"- {name}: {src}" for name, src in external["sources"].items()]
        lines += [f"- Note: {note}" for note in external.get("notes", [])]
        lines += [
            "",
            "The paper reports +4.2 percentage points of balanced accuracy on average over "
            "architectures and over IMA++ plus ISIC 2018, ISIC 2019, derm7pt and PH2; the "
            "mean gain column above is computed the same way, per α, over the datasets of "
            "this run.",
            "",
        ]
    lines += [
        "## Files",
        "",
        "`results.json` (every number above), `steps/` (cached step results; rerun with "
        "the same `--out` to reuse them, `--force` to recompute), the PNG figures.",
        "",
    ]
    Path(out_dir, "report.md").write_text("\n".join(lines))


_BASELINES_NOTE = (
    "Rows in italics fine-tune nothing, on the same folds: *pixels* is a linear model "
    "on 20 principal components of the raw pixels; a *linear probe* is a linear model on "
    "the frozen pooled features of the pretrained backbone. A network that does not beat "
    "its probe has not gained from fine-tuning."
)


def _weights_of(model, config):
    """Which weights ``model`` starts from, in words (no download, no file read)."""
    from ..nets import PAPER_BACKBONES, torchvision_checkpoint
    from ._config import RANDOM_WEIGHTS

    chosen = (config.weights or {}).get(model)
    if chosen == RANDOM_WEIGHTS:
        return "random initialisation"
    if chosen:
        return f"local file {chosen}"
    if model in PAPER_BACKBONES:
        path = torchvision_checkpoint(model, download=False)
        state = "in the cache" if path.is_file() else "downloaded at the first fit"
        return f"torchvision {PAPER_BACKBONES[model].weights} ({path}, {state})"
    if model == "efficientnet_lite0":
        return "the packaged Lite0 ImageNet weights when installed, else random initialisation"
    return "random initialisation"


def _normalization_of(config):
    """The input statistics of the run, in words."""
    if config.normalization == "imaplusplus":
        ima = "IMA++ mean (0.7079, 0.5688, 0.5130) / std (0.1304, 0.1248, 0.1429)"
    else:
        ima = "the estimators' choice (the weights' own statistics; IMA++'s from scratch)"
    return ima + ("; ImageNet's on the external sets" if config.external else "")


def _name(model):
    """The paper's name of one of its backbones (``tv_resnet18`` -> ResNet-18), else the model."""
    from ..nets import PAPER_BACKBONES

    spec = PAPER_BACKBONES.get(model)
    return model if spec is None else spec.label


def _p(value):
    return "n/a" if value is None else f"{value:.2g}"


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
