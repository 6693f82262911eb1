"""``skiaa score``: a folder of predicted masks against the annotators' masks.

Examples of use::

    skiaa score PRED_DIR MASK_DIR --out results/
    skiaa score PRED_DIR MASK_DIR --out results/ --metrics dice hd95 --consensus majority

Writes ``score_per_image.csv`` (one row per image and metric),
``score_per_annotator.csv`` (one row per annotator mask), ``score_summary.csv``
(one row per metric) and ``score_figure.png`` (the model's agreement against
the annotators' range, per image) in ``--out``.
"""

import argparse
import functools

from ..agreement import SCORE_METRICS
from ..utils import OUTPUT_NAMES
from ._agreement import add_distance_options
from ._common import add_jobs_and_quiet, add_wait, output_folder, warnings_as_lines

PER_IMAGE_FILE, PER_ANNOTATOR_FILE, SUMMARY_FILE, FIGURE_FILE = OUTPUT_NAMES["score"]


def add_parser(subparsers):
    """Register ``skiaa score`` on the dispatcher's sub-parsers."""
    parser = subparsers.add_parser(
        "score",
        help="score predicted masks against several annotators' masks",
        description=(
            "Score a segmentation model's masks against each annotator, against their\n"
            "consensus, and within the annotators' own pairwise agreement per image\n"
            "(is the model within human variability?)."
        ),
        epilog=(
            "PRED_DIR: one binary mask per image, named <image_id>.png or\n"
            "  <image_id>_<anything>.png (ISIC_0000000_segmentation.png).\n"
            "MASK_DIR: the annotators' masks, in a layout of 'skiaa agreement'\n"
            "  (flat IMA++ names, or one sub-folder per image); consensus masks\n"
            "  (ST/MV) are skipped.\n\n"
            f"Outputs in --out: {PER_IMAGE_FILE}, {PER_ANNOTATOR_FILE},\n"
            f"{SUMMARY_FILE} and {FIGURE_FILE}. 'percentile' is the share of\n"
            "the annotators' pairs that agree less than the model does on average\n"
            "(100: better than any two annotators). The ISIC 2018 score against the\n"
            "consensus is the threshold_jaccard row's model_consensus.\n"
            "Existing outputs are never overwritten without --force."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("pred_dir", metavar="PRED_DIR", help="folder of predicted masks")
    parser.add_argument("mask_dir", metavar="MASK_DIR", help="folder of the annotators' masks")
    parser.add_argument("--out", metavar="DIR", required=True, help="folder for the outputs")
    parser.add_argument("--force", action="store_true", help="overwrite existing output files")
    add_wait(parser)
    parser.add_argument(
        "--metrics",
        nargs="+",
        metavar="METRIC",
        default=None,
        help="metrics (default: " + " ".join(SCORE_METRICS) + "); any of 'skiaa agreement', "
        "and threshold_jaccard",
    )
    parser.add_argument(
        "--consensus",
        choices=("staple", "majority"),
        default="staple",
        help="consensus the model is also scored against (default: staple)",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=0.65,
        help="Jaccard threshold of threshold_jaccard (default: 0.65, the ISIC challenge's)",
    )
    add_distance_options(
        parser,
        "a pair with exactly one empty mask (an empty prediction; NaN makes the "
        "summary's means NaN)",
    )
    parser.add_argument(
        "--figure-metric",
        metavar="METRIC",
        default=None,
        help="metric of the figure, one of --metrics (default: the first)",
    )
    parser.add_argument(
        "--skip-missing",
        action="store_true",
        help="score the images that have a prediction and list the others, instead of failing",
    )
    add_jobs_and_quiet(parser, "images scored")
    parser.set_defaults(func=run, _parser=parser)
    return parser


def _write_outputs(folder, result, metric):
    """Draw the figure first, then replace the four files as a set."""
    from matplotlib.figure import Figure

    from ..stats import plot_model_vs_annotators

    fig = Figure(figsize=(10, 4.2), layout="constrained")
    axes = fig.subplots(1, 2, gridspec_kw={"width_ratios": (3, 1)})
    plot_model_vs_annotators(result.images, metric, axes=axes)
    tables = [result.images, result.annotators, result.summary.reset_index()]
    writers = {
        name: functools.partial(table.to_csv, index=False)
        for name, table in zip((PER_IMAGE_FILE, PER_ANNOTATOR_FILE, SUMMARY_FILE), tables)
    }
    writers[FIGURE_FILE] = lambda p: fig.savefig(p, dpi=120, format="png")
    return folder.commit(writers)


def run(args):
    """Run ``skiaa score`` with parsed arguments; return the exit code."""
    if args.n_jobs == 0:
        args._parser.error("--n-jobs must not be 0")
    asked = args.metrics or list(SCORE_METRICS)
    if args.figure_metric is not None and args.figure_metric not in asked:
        args._parser.error(f"--figure-metric {args.figure_metric} is not among --metrics")
    # Before any work: a bad or busy --out must not cost the computation.
    with output_folder(args, "score") as folder:
        return _run(args, asked, folder)


def _run(args, asked, folder):
    from ..datasets import score_mask_folder

    with warnings_as_lines("score"):
        result = score_mask_folder(
            args.pred_dir,
            args.mask_dir,
            args.metrics,
            consensus=args.consensus,
            threshold=args.threshold,
            hd_percentile=args.hd_percentile,
            empty=args.empty,
            missing="skip" if args.skip_missing else "raise",
            n_jobs=args.n_jobs,
            verbose=0 if args.quiet else 1,
        )
    # The figure's metric by its skiaa name (--metrics may use the release's).
    scored = list(result.summary.index)
    if args.figure_metric is None:
        metric = scored[0]
    elif args.figure_metric in scored:
        metric = args.figure_metric
    else:  # a release name, in the position it was asked
        metric = scored[asked.index(args.figure_metric)]
    *paths, figure = _write_outputs(folder, result, metric)
    if args.quiet:
        return 0
    n_images = result.images["image_id"].nunique()
    print(f"Scored {n_images} images against their annotators ({args.consensus} consensus).\n")
    print(result.summary.to_string(float_format=lambda v: f"{v:.3f}"))
    print(
        "\nmodel_mean: mean agreement with each annotator; human_mean: the annotators' mean"
        "\npairwise agreement; percentile_median: median share of annotator pairs agreeing"
        "\nless than the model (100: better than any two annotators agree); worse_than_humans,"
        "\nwithin_human_range, better_than_humans: shares of images where the model agrees"
        "\nless than the worst annotator pair, between the worst and the best, or more than"
        "\nthe best."
    )
    print(f"\nWrote {', '.join(str(p) for p in paths)} and {figure} ({metric}).")
    return 0
