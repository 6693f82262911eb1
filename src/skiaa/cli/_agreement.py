"""``skiaa agreement``: inter-annotator agreement of a mask folder, or of a synthetic demo.

Examples of use::

    skiaa agreement --demo                 # 200 synthetic lesions, summary table
    skiaa agreement --demo 500 --seed 1
    skiaa agreement MASK_DIR --out results/ --n-jobs 4
    skiaa agreement MASK_DIR --out results/ --metrics dice jaccard hd95 --force
    skiaa agreement MASK_DIR --images IMG_DIR --html --out review/
    skiaa agreement --demo 30 --html --out review/

For a folder, two CSV files are written in the IMA++ release's column layout:
``pairwise_metrics.csv`` (one row per pair of masks of an image: ``img_id,
mask1, mask2, annotator1, annotator2, dice_score, ..., tool1, skill_level1,
tool2, skill_level2``) and ``image_level_metrics.csv`` (one row per image:
``img_id, dice_score_mean, dice_score_std, ..., n_pairs``). With ``--html``
the disagreement page (``disagreement.html`` and its pictures) is written
beside them, in the same set of files.
"""

import argparse
from pathlib import Path

import pandas as pd

from ..agreement import DEFAULT_METRICS, METRICS, RELEASE_NAMES
from ..page import disagreement_page, mask_folder_page
from ..utils import OUTPUT_NAMES
from ._common import add_jobs_and_quiet, add_wait, output_folder, warnings_as_lines

PAIRWISE_FILE, IMAGE_LEVEL_FILE = OUTPUT_NAMES["agreement"]
DEFAULT_DEMO_SIZE = 200
_IAA = "dice_score_mean"  # the paper's IAA: mean pairwise Dice of an image


def add_parser(subparsers):
    """Register ``skiaa agreement`` on the dispatcher's sub-parsers."""
    parser = subparsers.add_parser(
        "agreement",
        help="inter-annotator agreement of a mask folder (or of a synthetic demo)",
        description=(
            "Compute the agreement between the annotators' masks of every image:\n"
            "pairwise Dice, Jaccard and boundary distances, and per image their mean\n"
            "and std. The IAA of an image is its mean pairwise Dice\n"
            "(Abhishek et al., arXiv:2508.09381)."
        ),
        epilog=(
            "MASK_DIR layouts:\n"
            "  flat, with IMA++ names ISIC_<id>_<annotator>_<tool>_<skill>_<objectid>.png\n"
            "    (consensus masks *_ST_ST_ST_ST.png / *_MV_MV_MV_MV.png are skipped\n"
            "    unless --include-consensus), or\n"
            "  one sub-folder of masks per image (or per 3-D case), named after it:\n"
            "    PNG images, NumPy .npy arrays or NIfTI .nii/.nii.gz volumes (NIfTI\n"
            "    needs nibabel: pip install 'skiaa[nifti]'). Distances of NIfTI masks\n"
            "    are in the voxel size of their headers unless --spacing is given.\n\n"
            f"Outputs: OUT/{PAIRWISE_FILE} and OUT/{IMAGE_LEVEL_FILE}, in the\n"
            "IMA++ release's column layout (img_id without a file extension). Images\n"
            "with fewer than two annotator masks are listed on stderr and get NaN\n"
            "statistics and n_pairs = 0, like AgreementTransformer(few_masks='nan').\n"
            "With --html, OUT/disagreement.html shows every image's outlines over the\n"
            "image (--images IMG_DIR: files named <image id>.jpg/.png/...), worst\n"
            "agreement first, and opens from the file system without a network; its\n"
            "pictures are in OUT/disagreement_files/. With --labels, one more page\n"
            "per class, OUT/disagreement_label<V>.html, linked from it.\n"
            "Existing outputs are never overwritten without --force."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "mask_dir", nargs="?", metavar="MASK_DIR", help="folder of mask files (see below)"
    )
    parser.add_argument(
        "--demo",
        nargs="?",
        type=int,
        const=DEFAULT_DEMO_SIZE,
        default=None,
        metavar="N",
        help=f"run on N synthetic lesions instead of a folder (default N: {DEFAULT_DEMO_SIZE})",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="random seed of the demo data (default: 0)"
    )
    parser.add_argument(
        "--image-size",
        type=int,
        default=128,
        metavar="PX",
        help="side of the demo images in pixels (default: 128)",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="folder for the CSV files (default: the current folder; the demo writes "
        "nothing unless --out is given)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite existing output files")
    add_wait(parser)
    parser.add_argument(
        "--metrics",
        nargs="+",
        metavar="METRIC",
        default=None,
        help="metrics to compute, skiaa or release names (default: "
        + " ".join(DEFAULT_METRICS)
        + "; also available: "
        + " ".join(m for m in METRICS if m not in DEFAULT_METRICS)
        + ")",
    )
    parser.add_argument(
        "--spacing",
        nargs="+",
        type=float,
        default=None,
        metavar="S",
        help="pixel/voxel size, one number or one per axis in the arrays' axis order "
        "(default: the NIfTI header's voxel size, else 1)",
    )
    add_distance_options(parser)
    parser.add_argument(
        "--labels",
        nargs="+",
        type=int,
        default=None,
        metavar="V",
        help="the masks are label maps (one integer class per pixel): measure these "
        "class values, each metric giving the mean over the classes and one column "
        "per class (dice_score_label2...)",
    )
    parser.add_argument(
        "--html",
        action="store_true",
        help="also write the disagreement page OUT/disagreement.html (see below)",
    )
    parser.add_argument(
        "--images",
        metavar="IMG_DIR",
        default=None,
        help="with --html: folder of the images, drawn under the outlines",
    )
    parser.add_argument(
        "--include-consensus",
        action="store_true",
        help="also pair the consensus masks (ST/MV) with the others in the pairwise "
        "file, as the release does; image-level statistics always exclude them",
    )
    add_jobs_and_quiet(parser, "images processed")
    parser.set_defaults(func=run, _parser=parser)
    return parser


def add_distance_options(parser, what="a pair with exactly one empty mask"):
    """Add ``--hd-percentile`` and ``--empty`` (shared with ``skiaa score``)."""
    parser.add_argument(
        "--hd-percentile",
        choices=("pooled", "max", "area_weighted"),
        default="pooled",
        help="HD95 over both directed distance sets pooled (medpy, the IMA++ release; "
        "default), the larger directed 95th percentile (MONAI), or over area-weighted "
        "surface elements (DeepMind's surface-distance)",
    )
    parser.add_argument(
        "--empty",
        choices=("nan", "worst"),
        default="nan",
        help=f"distances of {what}: NaN (default) or the image diagonal, 1.0 normalised "
        "(worst case)",
    )


# --------------------------------------------------------------------------- #
# Output
# --------------------------------------------------------------------------- #
def _write_tables(folder, pairs, summary):
    # Both tables replace the old pair together: never a new pairwise table
    # beside an old image-level one (skiaa.utils.OutputFolder).
    return folder.commit(
        {
            PAIRWISE_FILE: lambda path: pairs.to_csv(path, index=False),
            IMAGE_LEVEL_FILE: lambda path: summary.to_csv(path, index=False),
        }
    )


def _page_paths(out):
    # The page functions write the two tables with the page, as one set of
    # files, in their own locked output folder.
    return [Path(out) / PAIRWISE_FILE, Path(out) / IMAGE_LEVEL_FILE]


def _summary_table(summary, groups=None):
    """IAA statistics per group (or overall) as a formatted string."""
    iaa = summary[_IAA]
    frame = pd.DataFrame({"iaa": iaa.to_numpy()})
    hd95 = RELEASE_NAMES["hd95_normalized"] + "_mean"
    if hd95 in summary:
        frame["hd95"] = summary[hd95].to_numpy()
    keys = ["all"] * len(frame) if groups is None else list(groups)
    frame["group"] = keys
    rows = {}
    order = list(dict.fromkeys(sorted(set(keys)))) + ([] if groups is None else ["all"])
    for name in order:
        part = frame if name == "all" else frame[frame["group"] == name]
        row = {
            "images": len(part),
            "IAA mean": part["iaa"].mean(),
            "IAA median": part["iaa"].median(),
            "IAA std": part["iaa"].std(),
        }
        if "hd95" in part:
            row["HD95/diag mean"] = part["hd95"].mean()
        rows[name] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    return table.to_string(float_format=lambda v: f"{v:.3f}")


# --------------------------------------------------------------------------- #
# The two modes
# --------------------------------------------------------------------------- #
def _run_demo(args, verbose):
    if args.demo < 1:
        raise ValueError(f"--demo N needs a positive number of images, got {args.demo}")
    if args.html or not args.out:  # the demo writes nothing unless --out or --html
        return _demo(args, verbose, None)
    with output_folder(args, "agreement") as folder:
        return _demo(args, verbose, folder)


def _demo(args, verbose, folder):
    from ..datasets import lesions_agreement, make_lesions

    out = args.out or "."
    data = make_lesions(args.demo, image_size=args.image_size, random_state=args.seed)
    if args.html:
        result = disagreement_page(
            out,
            data.masks,
            data.images,
            image_ids=data.image_ids,
            annotators=data.annotators,
            tools=data.tools,
            skills=data.skills,
            metrics=args.metrics,
            hd_percentile=args.hd_percentile,
            empty=args.empty,
            title=f"skiaa agreement --demo {args.demo}: synthetic lesions",
            tables=(PAIRWISE_FILE, IMAGE_LEVEL_FILE),
            force=args.force,
            wait=args.wait,
            n_jobs=args.n_jobs,
            verbose=verbose,
        )
    else:
        result = lesions_agreement(
            data,
            args.metrics,
            hd_percentile=args.hd_percentile,
            empty=args.empty,
            n_jobs=args.n_jobs,
            verbose=verbose,
        )
    pairs, summary = result.pairs, result.images
    if args.html:
        out_paths = _page_paths(out)
    else:
        out_paths = _write_tables(folder, pairs, summary) if folder else None
    if args.quiet:
        return 0

    n_masks = sum(len(m) for m in data.masks)
    print(
        f"skiaa agreement --demo: {args.demo} synthetic dermoscopy lesions "
        f"({args.image_size}x{args.image_size} px, seed {args.seed}),\n"
        f"{n_masks} masks drawn by 15 simulated annotators with 3 tools "
        "(manual polygon, trace, threshold).\n"
    )
    print(_summary_table(summary, data.diagnosis))
    print(
        "\nIAA = mean pairwise Dice of an image's masks (1 = the annotators agree exactly);"
        "\nHD95/diag = 95th-percentile boundary distance as a fraction of the image diagonal."
    )
    mal = summary[_IAA][data.diagnosis == "malignant"]
    ben = summary[_IAA][data.diagnosis == "benign"]
    if len(mal) and len(ben):
        verdict = "less" if mal.mean() < ben.mean() else "no less"
        print(
            f"\nTakeaway: annotators agree {verdict} on malignant lesions "
            f"(mean IAA {mal.mean():.3f} vs {ben.mean():.3f} benign),\n"
            "as on the real IMA++ masks (0.756 vs 0.802). The generator's malignant "
            "lesions have\nfuzzier, more irregular, more variegated borders: "
            "the cause is visible in the image."
        )
    if out_paths:
        print(f"\nWrote {out_paths[0]} ({len(pairs)} pairs) and {out_paths[1]}.")
    if args.html:
        print(f"Wrote the disagreement page {result.path}.")
    print("\nYour own masks: skiaa agreement MASK_DIR --out RESULTS_DIR  (skiaa agreement -h)")
    return 0


def _spacing(values):
    if values is None:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def _run_folder(args, verbose):
    if args.html:
        return _folder(args, verbose, None)
    with output_folder(args, "agreement", default=".") as folder:
        return _folder(args, verbose, folder)


def _folder(args, verbose, folder):
    from ..datasets import mask_folder_agreement

    options = dict(
        include_consensus=args.include_consensus,
        spacing=_spacing(args.spacing),
        hd_percentile=args.hd_percentile,
        empty=args.empty,
        n_jobs=args.n_jobs,
        verbose=verbose,
        labels=args.labels,
    )
    with warnings_as_lines("agreement"):
        if args.html:
            # The page writes the two tables with it, as one set of files.
            result = mask_folder_page(
                args.mask_dir,
                args.out or ".",
                image_dir=args.images,
                metrics=args.metrics,
                tables=(PAIRWISE_FILE, IMAGE_LEVEL_FILE),
                force=args.force,
                wait=args.wait,
                **options,
            )
        else:
            result = mask_folder_agreement(args.mask_dir, args.metrics, **options)
    pairs, summary = result.pairs, result.images
    if args.html:
        out_paths = _page_paths(args.out or ".")
    else:
        out_paths = _write_tables(folder, pairs, summary)
    if args.quiet:
        return 0
    print(_summary_table(summary[summary["n_pairs"] > 0]))
    print(
        f"\nWrote {out_paths[0]} ({len(pairs)} pairs) and {out_paths[1]} ({len(summary)} images)."
    )
    if args.html:
        print(f"Wrote the disagreement page {result.path}.")
    return 0


def run(args):
    """Run ``skiaa agreement`` with parsed arguments; return the exit code."""
    if (args.demo is None) == (args.mask_dir is None):
        args._parser.error("give either MASK_DIR or --demo [N]")
    if args.n_jobs == 0:
        args._parser.error("--n-jobs must not be 0")
    if args.images is not None and not args.html:
        args._parser.error("--images is only used by --html (the disagreement page)")
    if args.images is not None and args.demo is not None:
        args._parser.error("--images goes with MASK_DIR; the demo draws its own images")
    if args.demo is not None and args.labels is not None:
        args._parser.error("--labels needs a MASK_DIR of label maps; the demo's masks are binary")
    verbose = 0 if args.quiet else 1
    if args.demo is not None:
        return _run_demo(args, verbose)
    return _run_folder(args, verbose)
