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
