"""``skiaa fetch``: download a public dataset into a folder the other commands read."""

import sys

_DATASETS = ("imaplusplus",)


def add_parser(subparsers):
    """Register ``skiaa fetch``."""
    parser = subparsers.add_parser(
        "fetch",
        help="download the IMA++ release (tables, masks, images) into a folder",
        description=(
            "Download the IMA++ release into DIR: the tables and masks from its Zenodo record "
            "(DOI 10.5281/zenodo.14201692, MD5-checked) and the images of the multi-annotator "
            "subset from the ISIC Archive. Rerunning continues interrupted downloads and skips "
            "files already there and verified. Then: skiaa reproduce --imaplusplus DIR."
        ),
    )
    parser.add_argument("dataset", choices=_DATASETS, help="the dataset to fetch")
    parser.add_argument("directory", metavar="DIR", help="folder to fill (created if needed)")
    parser.add_argument(
        "--no-images",
        action="store_true",
        help="tables and masks only (enough for the agreement and statistics steps)",
    )
    parser.add_argument(
        "--record", help="Zenodo record id (default: the release's, 14201692, latest version)"
    )
    parser.add_argument(
        "--zenodo-url", metavar="URL", help="Zenodo REST API base (env SKIAA_ZENODO_API)"
    )
    parser.add_argument(
        "--isic-url", metavar="URL", help="ISIC Archive API v2 base (env SKIAA_ISIC_API)"
    )
    parser.add_argument(
        "--github-url", metavar="URL", help="raw GitHub base for tables (env SKIAA_GITHUB_RAW)"
    )
    parser.add_argument(
        "--n-jobs",
        type=int,
        default=4,
        metavar="N",
        help="images downloaded at once (-1: one per core; default: 4)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for a server (default 60)",
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="when another skiaa fetch is filling DIR, wait for it to end instead of stopping",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars, no summary")
    parser.set_defaults(func=run)


def run(args):
    from ..datasets import IMAPLUSPLUS_RECORD, FetchError, fetch_imaplusplus

    try:
        result = fetch_imaplusplus(
            args.directory,
            images=not args.no_images,
            record=args.record or IMAPLUSPLUS_RECORD,
            zenodo_url=args.zenodo_url,
            isic_url=args.isic_url,
            github_url=args.github_url,
            n_jobs=args.n_jobs,
            timeout=args.timeout,
            wait=args.wait,
            verbose=0 if args.quiet else 1,
        )
    except FetchError as exc:
        print(f"skiaa fetch: error: {exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(
            f"IMA++ (Zenodo record {result.record}) in {result.root}: {result.downloaded} "
            f"file(s) downloaded, {result.skipped} already there and verified."
        )
        print(f"Next: skiaa reproduce --imaplusplus {result.root}")
    return 0
