"""What several subcommands share: printing the library's warnings."""

import contextlib
import sys
import warnings


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
