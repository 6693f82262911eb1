"""The ``skiaa`` command line.

Argument parsing only: every sub-command is a thin layer over library
functions. Each sub-command lives in its own private module exposing
``add_parser(subparsers)``, which registers the parser and sets ``func`` (a
callable taking the parsed ``argparse.Namespace`` and returning an exit code).
"""

import argparse
import importlib
import os
import sys

from .._version import __version__

# Modules defining sub-commands, in the order ``skiaa --help`` lists them.
_COMMAND_MODULES = ("_agreement", "_compare", "_score", "_reproduce", "_fetch")


def build_parser():
    """Build the ``skiaa`` argument parser with every sub-command registered.

    Returns
    -------
    parser : argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(
        prog="skiaa",
        description=(
            "Learning from inter-annotator variability in skin-lesion segmentation "
            "(Abhishek et al., arXiv:2508.09381)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"skiaa {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in _COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{module_name}").add_parser(subparsers)
    return parser


def main(argv=None):
    """Run the ``skiaa`` command line.

    Parameters
    ----------
    argv : list of str, default=None
        Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns
    -------
    exit_code : int
        0 on success; 1 when the command failed with a user-facing error
        (bad input, existing output without ``--force``, an output folder
        that cannot be written or is in use by another run, a full disk); 2
        for usage errors; 130 when interrupted (Ctrl-C).
    """
    # Before torch loads OpenMP: its threads then sleep while they wait instead of
    # spinning. Spinning threads of a 2-thread fit on cores that other jobs use
    # made a fit 7-15 times slower (benchmarks/bench_threads_under_load.py); the
    # numbers do not depend on how threads wait. A user's own setting is kept.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    from ..utils import OutputFolderError, is_disk_full

    try:
        return int(args.func(args) or 0)
    except (
        ValueError,
        FileNotFoundError,
        FileExistsError,
        NotADirectoryError,
        PermissionError,
        OutputFolderError,
    ) as exc:
        # User-facing errors: one readable line, no traceback.
        print(f"skiaa {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        # A full disk outside the places that name what they write (a library's
        # own temporary file): still one line, with the file when known.
        where = f" while writing {exc.filename}" if exc.filename else ""
        print(f"skiaa {args.command}: error: {exc.strerror}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # Ctrl-C: the shell's convention (128 + SIGINT); outputs were left as
        # they were, since every command writes its files as a set at the end.
        print(f"skiaa {args.command}: interrupted", file=sys.stderr)
        return 130
