"""``skiaa reproduce``: the paper's whole study in one command."""

from pathlib import Path

from ._common import add_wait


def _csv(text, cast=str):
    items = [cast(part.strip()) for part in text.split(",") if part.strip()]
    if not items:
        raise ValueError(f"expected a comma-separated list, got {text!r}")
    return tuple(items)


def _pair(text, option, form):
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise ValueError(f"{option} expects {form}, got {text!r}")
    return name.strip(), value.strip()


def _external(text):
    """``NAME=DIR`` (a folder that must exist) or ``synthetic``."""
    from ..study import EXTERNAL_DATASETS

    if text.strip() == "synthetic":
        return ("synthetic", None)
    name, folder = _pair(text, "--external", "NAME=DIR (or synthetic)")
    if name not in EXTERNAL_DATASETS or name == "synthetic":
        known = ", ".join(n for n in EXTERNAL_DATASETS if n != "synthetic")
        raise ValueError(f"--external {name}: unknown dataset; choose from {known} or synthetic")
    if not Path(folder).is_dir():
        raise FileNotFoundError(f"--external {name}: no folder {folder}")
    return (name, str(Path(folder).resolve()))


def add_parser(subparsers):
    """Register ``skiaa reproduce``."""
    parser = subparsers.add_parser(
        "reproduce",
        help="run the whole study (agreement, statistics, IAA regression, multi-task diagnosis)",
        description=(
            "Run the study of Abhishek et al. (arXiv:2508.09381) end to end and write "
            "OUT/report.md, OUT/results.json and PNG figures. On built-in synthetic data by "
            "default; on the IMA++ release with --imaplusplus. Re-running with the same --out "
            "reuses finished steps (--force recomputes them)."
        ),
    )
    parser.add_argument(
        "--data",
        choices=("synthetic", "imaplusplus"),
        default=None,
        help="data source (default: synthetic, or imaplusplus when --imaplusplus is given)",
    )
    parser.add_argument(
        "--imaplusplus",
        metavar="DIR",
        help="folder of the IMA++ tables; its images/ and masks/ sub-folders (as written by "
        "skiaa fetch imaplusplus) are used unless --images/--masks say otherwise",
    )
    parser.add_argument("--images", metavar="DIR", help="folder of the IMA++ images")
    parser.add_argument("--masks", metavar="DIR", help="folder of the IMA++ mask PNGs")
    parser.add_argument(
        "--models",
        metavar="A,B,C",
        help="timm architectures or the paper's tv_* backbones to train (comma-separated); "
        "'paper' = all 13 of the paper",
    )
    parser.add_argument(
        "--alphas", metavar="A,B", help="multi-task diagnosis-loss weights compared with alpha=1"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small settings that still learn (Lite0 ImageNet weights, 48 px): about 2 minutes",
    )
    parser.add_argument(
        "--preset",
        choices=("default", "quick", "paper"),
        help="settings to start from: default (laptop scale), quick (--quick), or paper (the "
        "authors' recipe: 224 px, their best three torchvision backbones, SGD 50 epochs, "
        "alphas 0.1-0.9, one fixed 70/10/20 split x 3 runs); other options override it",
    )
    parser.add_argument(
        "--external",
        action="append",
        metavar="NAME=DIR",
        help="fine-tune the IMA++ diagnosis models on an external dataset and add the paper's "
        "table: isic2018=DIR, isic2019=DIR, derm7pt=DIR, ph2=DIR, or synthetic (a shifted "
        "synthetic domain); repeatable",
    )
    parser.add_argument(
        "--weights",
        action="append",
        metavar="MODEL=PATH",
        help="local weights for a model (for the paper's tv_* backbones a torchvision state "
        "dict; by default theirs from torch's hub cache), or MODEL=random for random "
        "initialisation; repeatable",
    )
    parser.add_argument(
        "--protocol",
        choices=("cv", "split"),
        help="cv: stratified k-fold; split: one fixed 70/10/20 split trained --runs times",
    )
    parser.add_argument("--runs", type=int, help="runs of the split protocol (paper: 3)")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the full recipe and an estimated GPU time, then stop (nothing is trained)",
    )
    parser.add_argument("--n-samples", type=int, help="number of synthetic images")
    parser.add_argument("--image-size", type=int, help="image side seen by the networks")
    parser.add_argument("--cv", type=int, help="cross-validation folds")
    parser.add_argument("--max-epochs", type=int, help="training epochs per fit")
    parser.add_argument("--seed", type=int, help="random seed (default 0)")
    parser.add_argument("--device", help='torch device (default "auto": CUDA when available)')
    parser.add_argument(
        "--torch-threads",
        type=int,
        metavar="N",
        help="CPU threads of torch, fixed for the whole run (default: torch's current count, "
        "recorded in results.json; pass it again to repeat the numbers exactly)",
    )
    parser.add_argument(
        "--n-jobs",
        type=int,
        metavar="N",
        help="fits run at once, in N local worker processes (default 1; -1: one per core, or "
        "one per device with --devices); the numbers are those of --n-jobs 1 with the same "
        "--torch-threads",
    )
    parser.add_argument(
        "--devices",
        metavar="D1,D2",
        help="torch devices to spread the fits over, one fit per device at a time "
        "(e.g. cuda:0,cuda:1)",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the fits on the Dask cluster of this scheduler (tcp://host:8786; "
        "needs skiaa[dask])",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        default="skiaa-reproduce",
        help="output folder (default: %(default)s)",
    )
    parser.add_argument(
        "--force", action="store_true", help="recompute every step, ignoring cached results"
    )
    add_wait(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="also show the networks' epoch tables"
    )
    parser.set_defaults(func=run)


def run(args):
    from ..study import StudyConfig, run_study

    overrides = {}
    data = args.data or ("imaplusplus" if args.imaplusplus else "synthetic")
    if data == "imaplusplus" and not args.imaplusplus:
        raise ValueError("--data imaplusplus needs --imaplusplus DIR (the release's tables)")
    if data == "synthetic" and (args.imaplusplus or args.images or args.masks):
        raise ValueError("--imaplusplus/--images/--masks need --data imaplusplus")
    overrides["data"] = data
    for name in ("imaplusplus", "images", "masks"):
        value = getattr(args, name)
        if value is not None:
            if not Path(value).is_dir():
                raise FileNotFoundError(f"--{name}: no folder {value}")
            overrides[name] = str(Path(value).resolve())
    if args.imaplusplus:
        from ..datasets import IMAPLUSPLUS_FOLDERS

        # A folder filled by ``skiaa fetch imaplusplus`` holds the images and
        # masks beside the tables; an explicit --images/--masks still wins.
        for name, sub in IMAPLUSPLUS_FOLDERS.items():
            found = Path(overrides["imaplusplus"]) / sub
            if name not in overrides and found.is_dir():
                overrides[name] = str(found)
    if args.models:
        from ..nets import PAPER_BACKBONES

        models = _csv(args.models)
        overrides["models"] = tuple(PAPER_BACKBONES) if models == ("paper",) else models
    if args.external:
        overrides["external"] = tuple(_external(text) for text in args.external)
    if args.weights:
        overrides["weights"] = dict(
            _pair(text, "--weights", "MODEL=PATH") for text in args.weights
        )
        for model, path in overrides["weights"].items():
            if path != "random" and not Path(path).is_file():
                raise FileNotFoundError(f"--weights {model}: no file {path}")
    if args.alphas:
        overrides["alphas"] = _csv(args.alphas, float)
    if args.devices:
        overrides["devices"] = _csv(args.devices)
    for option, key in (
        ("n_samples", "n_samples"),
        ("image_size", "image_size"),
        ("cv", "cv"),
        ("max_epochs", "max_epochs"),
        ("seed", "random_state"),
        ("device", "device"),
        ("protocol", "protocol"),
        ("runs", "n_runs"),
        ("torch_threads", "torch_num_threads"),
        ("n_jobs", "n_jobs"),
        ("scheduler", "scheduler"),
    ):
        value = getattr(args, option)
        if value is not None:
            overrides[key] = value
    preset = args.preset or ("quick" if args.quick else "default")
    if args.quick and preset != "quick":
        raise ValueError(f"--quick and --preset {preset} contradict each other")
    if preset == "paper":
        config = StudyConfig.paper(**overrides)
    elif preset == "quick":
        config = StudyConfig.quick(**overrides)
    else:
        config = StudyConfig(**overrides)
    if args.dry_run:
        from ..study import describe_study

        print(describe_study(config))
        return 0
    verbose = 0 if args.quiet else (2 if args.verbose else 1)
    results = run_study(args.out, config, force=args.force, wait=args.wait, verbose=verbose)
    if not args.quiet:
        _print_summary(results)
    return 0


def _print_summary(results):
    print()
    print(results["statistics"]["table"])
    reg = results.get("iaa_regression") or {}
    for model, res in reg.items():
        folds = res["folds"]
        mae = sum(f["mae"] for f in folds) / len(folds)
        base = sum(f["baseline_mae"] for f in folds) / len(folds)
        print(f"IAA regression {model}: MAE {mae:.3f} vs median baseline {base:.3f}")
        authors = res.get("authors")
        if authors and authors["std_signed_residual"] is not None:
            print(
                f"  the authors' way (pooled test predictions): MAE {authors['mae']:.3f} ± "
                f"{authors['std_signed_residual']:.3f} (sample std of signed residuals)"
            )
    external = (results.get("external") or {}).get("table")
    if external:
        for alpha, g in external["gain"].items():
            std = "n/a" if g["std_pp"] is None else f"{g['std_pp']:.1f}"
            print(
                f"Paper's table, alpha={alpha}: mean gain {g['mean_pp']:+.1f} percentage points "
                f"(std {std} over {g['n_cells']} dataset x architecture cells)"
            )
    for alpha, g in (results.get("gain") or {}).items():
        print(
            f"IMA++ gain over alpha=1, alpha={alpha}: {g['mean_pp']:+.1f} percentage points "
            f"(mean over {g['n_models']} architectures)"
        )
