"""Sphinx configuration for skiaa's documentation."""

import skiaa

project = "skiaa"
author = "The skiaa developers"
copyright = "2026, The skiaa developers"
release = skiaa.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
]
autosummary_generate = True
numpydoc_show_class_members = False
exclude_patterns = ["_build"]
html_theme = "pydata_sphinx_theme"
