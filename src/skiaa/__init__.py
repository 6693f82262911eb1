"""skiaa: learning from inter-annotator variability in skin-lesion segmentation.

skiaa re-implements the pipeline of Abhishek, Kawahara & Hamarneh, "What Can We
Learn from Inter-Annotator Variability in Skin Lesion Segmentation?" (MICCAI 2025
ISIC Workshop, arXiv:2508.09381) as scikit-learn compatible building blocks:

- agreement metrics between annotators' masks and consensus masks
  (numpy/scipy only),
- statistics comparing agreement between benign and malignant lesions,
- skorch/timm estimators that predict agreement from the image and use it as an
  auxiliary target for diagnosis.

Importing :mod:`skiaa` does not import torch: the torch-based estimators are
loaded on first access (``skiaa.IAARegressor``), so that people who only measure
agreement do not pay torch's import time.
"""

import importlib

from ._version import __version__
from .agreement import (
    AgreementTransformer,
    EmptyMaskWarning,
    StapleResult,
    assd,
    boundary_f1,
    dice,
    hausdorff,
    hd95,
    image_agreement,
    jaccard,
    majority_vote,
    pairwise_agreement,
    staple,
    surface_dice,
)
from .datasets import (
    find_mask_sets,
    load_derm7pt,
    load_images,
    load_imaplusplus,
    load_isic2018,
    load_isic2019,
    load_ph2,
    make_lesions,
    mask_folder_agreement,
)
from .stats import (
    agreement_by_factor,
    compare_groups,
    plot_agreement_by_factor,
    plot_ecdf,
    stochastic_dominance_test,
)
from .utils import OutputFolderError

# Public names that live in torch-based modules, imported on first access
# (PEP 562) so that ``import skiaa`` and ``import skiaa.agreement`` stay torch-free.
_LAZY_NAMES = {
    "FeatureExtractor": "skiaa.estimators",
    "IAARegressor": "skiaa.estimators",
    "ImageDataset": "skiaa.datasets._torch",
    "MultiTaskDiagnosisClassifier": "skiaa.estimators",
    "StudyConfig": "skiaa.study",
    "run_study": "skiaa.study",
}

__all__ = [
    "__version__",
    # skiaa.agreement
    "EmptyMaskWarning",
    "assd",
    "boundary_f1",
    "dice",
    "hausdorff",
    "hd95",
    "image_agreement",
    "jaccard",
    "pairwise_agreement",
    "surface_dice",
    "StapleResult",
    "majority_vote",
    "staple",
    "AgreementTransformer",
    # skiaa.datasets
    "find_mask_sets",
    "load_derm7pt",
    "load_images",
    "load_imaplusplus",
    "load_isic2018",
    "load_isic2019",
    "load_ph2",
    "make_lesions",
    "mask_folder_agreement",
    # skiaa.stats
    "agreement_by_factor",
    "compare_groups",
    "plot_agreement_by_factor",
    "plot_ecdf",
    "stochastic_dominance_test",
    # raised by every command and function that writes a folder
    "OutputFolderError",
    # skiaa.estimators, skiaa.datasets, skiaa.study (loaded on first access)
    *sorted(_LAZY_NAMES),
]


def __getattr__(name):
    if name in _LAZY_NAMES:
        value = getattr(importlib.import_module(_LAZY_NAMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'skiaa' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
