"""``python -m skiaa``: the same entry point as the ``skiaa`` console script."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
