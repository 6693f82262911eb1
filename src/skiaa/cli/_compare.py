"""``skiaa compare``: benign vs malignant agreement, tests, effect sizes, ECDF plot."""

import json

from ._common import add_wait, output_folder


def add_parser(subparsers):
    """Register ``skiaa compare``."""
    parser = subparsers.add_parser(
        "compare",
        help="compare inter-annotator agreement of benign and malignant lesions",
        description=(
            "Compare per-image agreement (IAA) between benign and malignant lesions: "
            "Mann-Whitney U and Kolmogorov-Smirnov tests (two- and one-sided), Cohen's d, "
            "Cliff's delta, bootstrap CIs, a first-order stochastic-dominance test and the "
            "ECDF plot. Reads either an IAA table and an ISIC metadata table, or an IMA++ "
            "tables folder. Writes OUT/comparison.json, OUT/comparison.txt, OUT/ecdf.png. "
            "Images labelled indeterminate are left out (and counted)."
        ),
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--imaplusplus",
        metavar="DIR",
        help="folder with the IMA++ release tables (IMAplusplus_*.csv)",
    )
    source.add_argument(
        "--iaa",
        metavar="TABLE",
        help="per-image IAA table (CSV) with an image id column (img_id, image_id or isic_id)",
    )
    parser.add_argument(
        "--metadata",
        metavar="TABLE",
        help="ISIC metadata table (CSV) with isic_id and benign_malignant; needed with --iaa",
    )
    parser.add_argument(
        "--value-column",
        default=None,
        help="column of the IAA table to compare (default: dice_score_mean or dice_mean; "
        "with --imaplusplus any column of the per-image frame, default iaa)",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs")
    add_wait(parser)
    parser.add_argument("--n-resamples", type=int, default=9999, help="bootstrap resamples (9999)")
    parser.add_argument(
        "--seed", type=int, default=0, help="random seed of the bootstrap (default: 0)"
    )
    parser.add_argument(
        "--alpha", type=float, default=0.05, help="level of the dominance conclusion (0.05)"
    )
    parser.set_defaults(func=run)
    return parser


def run(args):
    """Run ``skiaa compare``; returns the exit code."""
    # Before any work: a bad or busy --out must not cost the computation.
    with output_folder(args, "compare") as folder:
        return _run(args, folder)


def _run(args, folder):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..datasets import load_imaplusplus, read_iaa_table
    from ..stats import compare_groups, diagnosis_groups, plot_ecdf

    if args.imaplusplus is not None:
        if args.metadata is not None:
            raise ValueError("--metadata goes with --iaa, not with --imaplusplus")
        table = load_imaplusplus(args.imaplusplus)
        value_column = args.value_column or "iaa"
        if value_column not in table.columns:
            raise ValueError(f"the IMA++ per-image frame has no column {value_column!r}")
        source = {"imaplusplus": str(args.imaplusplus)}
    else:
        if args.metadata is None:
            raise ValueError(
                "--iaa needs --metadata (the ISIC metadata table with benign_malignant)"
            )
        # None: the IAA in either naming (dice_score_mean or dice_mean).
        table = read_iaa_table(args.iaa, args.metadata, value_column=args.value_column)
        value_column = table.attrs["value_column"]
        source = {"iaa": str(args.iaa), "metadata": str(args.metadata)}

    samples = diagnosis_groups(table, value_column)
    indeterminate = samples.n_indeterminate
    values, groups = samples.data, samples.groups
    result = compare_groups(
        values,
        groups,
        positive="malignant",
        n_resamples=args.n_resamples,
        alpha=args.alpha,
        random_state=args.seed,
    )

    text = str(result)
    if indeterminate:
        text += f"\n\n{indeterminate} indeterminate image(s) left out of the comparison."
    print(text)

    record = result.to_dict()
    record["source"] = source
    record["n_indeterminate_excluded"] = indeterminate
    record["random_state"] = args.seed

    iaa_columns = ("iaa", "dice_score_mean", "dice_mean")
    xlabel = "IAA (mean pairwise Dice)" if value_column in iaa_columns else None
    ax = plot_ecdf(
        values,
        groups,
        positive="malignant",
        comparison=result,
        xlabel=xlabel or value_column,
        title="Inter-annotator agreement: benign vs malignant",
    )
    try:
        # The three files replace an earlier run's as a set, never a mix.
        json_path, text_path, figure_path = folder.commit(
            {
                "comparison.json": lambda p: p.write_text(json.dumps(record, indent=2) + "\n"),
                "comparison.txt": lambda p: p.write_text(text + "\n"),
                "ecdf.png": lambda p: ax.figure.savefig(
                    p, format="png", dpi=150, bbox_inches="tight"
                ),
            },
        )
    finally:
        plt.close(ax.figure)
    print(f"\nWrote {json_path}, {text_path}, {figure_path}")
    return 0
