"""Data: synthetic lesions, the IMA++ tables (and their download), external datasets, images.

Importing this package does not import torch; the torch ``Dataset`` classes are
loaded on first access.
"""

import importlib

from ._external import load_derm7pt, load_isic2018, load_isic2019, load_ph2
from ._fetch import IMAPLUSPLUS_RECORD, FetchError, fetch_imaplusplus
from ._images import image_cache_path, load_images
from ._imaplusplus import (
    IMAPLUSPLUS_FOLDERS,
    IMAPLUSPLUS_TABLES,
    label_diagnosis,
    load_imaplusplus,
    read_iaa_table,
)
from ._mask_folders import find_mask_sets, lesions_agreement, mask_folder_agreement
from ._names import parse_mask_filename
from ._score_folders import score_mask_folder
from ._shifted import make_external_lesions
from ._synthetic import make_lesions
from ._tables import check_table, metric_ranges, read_table

# Names living in torch-based modules, imported on first access (PEP 562).
_LAZY_NAMES = {"ImageDataset": "skiaa.datasets._torch"}

__all__ = [
    "IMAPLUSPLUS_FOLDERS",
    "IMAPLUSPLUS_RECORD",
    "IMAPLUSPLUS_TABLES",
    "FetchError",
    "check_table",
    "fetch_imaplusplus",
    "find_mask_sets",
    "image_cache_path",
    "label_diagnosis",
    "lesions_agreement",
    "load_derm7pt",
    "load_images",
    "load_imaplusplus",
    "load_isic2018",
    "load_isic2019",
    "load_ph2",
    "make_external_lesions",
    "make_lesions",
    "mask_folder_agreement",
    "metric_ranges",
    "parse_mask_filename",
    "read_iaa_table",
    "read_table",
    "score_mask_folder",
    *sorted(_LAZY_NAMES),
]


def __getattr__(name):
    if name in _LAZY_NAMES:
        value = getattr(importlib.import_module(_LAZY_NAMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'skiaa.datasets' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
