"""scikit-learn estimators on images, built on skorch and timm.

- :class:`IAARegressor` predicts the inter-annotator agreement of a lesion;
- :class:`MultiTaskDiagnosisClassifier` diagnoses lesions with the agreement
  as an auxiliary training target;
- :class:`FeatureExtractor` turns images into a frozen backbone's pooled
  features; followed by a linear model it is the linear probe.

Importing this package imports torch; ``import skiaa`` does not (the
estimators are also available as ``skiaa.IAARegressor``,
``skiaa.MultiTaskDiagnosisClassifier`` and ``skiaa.FeatureExtractor``, loaded
on first access).
"""

from ._base import ChanceLevelWarning
from ._features import FeatureExtractor, clear_feature_cache
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
    "ChanceLevelWarning",
    "FeatureExtractor",
    "IMA_MEAN",
    "IMA_STD",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IAARegressor",
    "MultiTaskDiagnosisClassifier",
    "augment_batch",
    "clear_feature_cache",
]
