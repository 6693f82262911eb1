"""What several subcommands share: warnings as lines, the output folder, common options."""

import contextlib
import sys
import warnings

from ..utils import OUTPUT_NAMES, OutputFolder


@contextlib.contextmanager
def warnings_as_lines(command):
    """Print every warning raised inside the block as one line on stderr.

    The library's warnings, one line each, in the order they happen, prefixed
    with ``skiaa COMMAND: warning:``.
    """

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"skiaa {command}: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = show
        yield


def add_jobs_and_quiet(parser, what):
    """Add ``--n-jobs`` (``what`` done in parallel) and ``-q/--quiet`` to a subcommand."""
    parser.add_argument(
        "--n-jobs",
        type=int,
        default=1,
        metavar="N",
        help=f"{what} in parallel (-1: all cores; default: 1)",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar and no summary table"
    )


def add_wait(parser):
    """Add ``--wait``: queue behind another run that holds the same ``--out``."""
    parser.add_argument(
        "--wait",
        action="store_true",
        help="when another skiaa run is writing to the same --out, wait for it to end "
        "instead of stopping",
    )


def output_folder(args, command, default=None):
    """The :class:`~skiaa.utils.OutputFolder` of ``command``'s ``--out``, checked and locked.

    Entered before any work: a bad or busy folder fails in a second.
    """
    return OutputFolder(
        args.out if args.out is not None else default,
        OUTPUT_NAMES[command],
        force=args.force,
        wait=args.wait,
        on_wait=lambda line: print(f"skiaa {command}: {line}", file=sys.stderr, flush=True),
    )
