"""Private helpers shared across skiaa's modules (not part of the public API)."""
