"""scikit-learn estimators on images, built on skorch and timm.

- :class:`IAARegressor` predicts the inter-annotator agreement of a lesion;
- :class:`MultiTaskDiagnosisClassifier` diagnoses lesions with the agreement
  as an auxiliary training target.

Importing this package imports torch; ``import skiaa`` does not (the two
estimators are also available as ``skiaa.IAARegressor`` and
``skiaa.MultiTaskDiagnosisClassifier``, loaded on first access).
"""

from ._multitask import MultiTaskDiagnosisClassifier
from ._regressor import IAARegressor
from ._transforms import (
    AUGMENT_RECIPES,
    IMA_MEAN,
    IMA_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    augment_batch,
)

__all__ = [
    "AUGMENT_RECIPES",
    "IMA_MEAN",
    "IMA_STD",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IAARegressor",
    "MultiTaskDiagnosisClassifier",
    "augment_batch",
]
