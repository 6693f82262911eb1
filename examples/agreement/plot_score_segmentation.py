"""
Is a segmentation model within human variability?
=================================================

A segmentation model's Dice against "the" ground truth hides a question that
multi-annotator data can answer: do its masks differ from the annotators' more
than the annotators differ from each other? :func:`skiaa.agreement.score_segmentation`
scores a predicted mask against each annotator's mask, against their consensus,
and places the model's mean agreement among the annotators' own pairwise
agreement on that image (a percentile: 100 means the model agrees with the
annotators better than any two of them agree with each other).

The "model" here is the simplest there is: Otsu's threshold of the image's
brightness, on the synthetic dermoscopy lesions of
:func:`skiaa.datasets.make_lesions`. The command line does the same on
folders of mask files: ``skiaa score PRED_DIR MASK_DIR --out DIR``.
"""

# %%
# Lesions, annotators and an Otsu "model"
# ---------------------------------------
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.model_selection import GridSearchCV

from skiaa.agreement import (
    annotator_vs_consensus,
    make_segmentation_scorer,
    score_segmentation,
    summarize_scores,
)
from skiaa.datasets import make_lesions
from skiaa.stats import plot_model_vs_annotators

data = make_lesions(40, image_size=128, n_masks=(3, 5), random_state=0)


def otsu_threshold(gray):
    """Otsu's threshold of a uint8 image: the level maximising between-class variance."""
    hist = np.bincount(gray.ravel(), minlength=256).astype(float)
    p = hist / hist.sum()
    omega = np.cumsum(p)
    mu = np.cumsum(p * np.arange(256))
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu[-1] * omega - mu) ** 2 / (omega * (1 - omega))
    return int(np.nanargmax(between))


def otsu_segment(image, offset=0):
    """Lesion = pixels darker than Otsu's threshold (plus ``offset`` grey levels)."""
    gray = image.mean(axis=2).astype(np.uint8)
    return gray <= otsu_threshold(gray) + offset


predictions = [otsu_segment(image) for image in data.images]

# %%
# One image: the model against each annotator and the consensus
# -------------------------------------------------------------
i = int(np.flatnonzero(data.diagnosis == "malignant")[0])
result = score_segmentation(
    predictions[i], data.masks[i], annotators=data.annotators[i], image_id=data.image_ids[i]
)
print(result.annotators.round(3).to_string(index=False))
print(result.summary.drop(columns="image_id").round(3).to_string(index=False))

fig, axes = plt.subplots(1, 2, figsize=(8, 4), layout="constrained")
axes[0].imshow(data.images[i])
for mask in data.masks[i]:
    axes[0].contour(mask, levels=[0.5], colors="white", linewidths=0.8)
axes[0].contour(predictions[i], levels=[0.5], colors="#D55E00", linewidths=1.5)
axes[0].set_title("annotators (white) and Otsu (orange)")
axes[1].imshow(np.mean(data.masks[i], axis=0), cmap="gray")
axes[1].set_title("annotators' mean mask")
for ax in axes:
    ax.set_axis_off()
plt.show()

# %%
# Every image: the model against the human range
# ----------------------------------------------
# ``threshold_jaccard`` is the ISIC 2018 challenge's score (Jaccard below 0.65
# counts 0); its ``model_consensus`` mean is the challenge score against the
# STAPLE consensus.
scores = pd.concat(
    score_segmentation(pred, masks, image_id=image_id).summary
    for pred, masks, image_id in zip(predictions, data.masks, data.image_ids)
)
print(summarize_scores(scores).round(3).to_string())

plot_model_vs_annotators(scores, "dice")
plt.show()

# %%
# The model beside each annotator
# -------------------------------
# :func:`~skiaa.agreement.annotator_vs_consensus` gives each annotator's Dice
# against the consensus of the *others*: the model's Dice against the
# consensus of all annotators sits among those values.
per_annotator = pd.concat(
    annotator_vs_consensus(masks, who, metrics="dice", image_id=image_id)
    for masks, who, image_id in zip(data.masks, data.annotators, data.image_ids)
)
ranking = per_annotator.groupby("annotator")["dice"].agg(["mean", "count"])
ranking.loc["Otsu model"] = [
    scores.loc[scores["metric"] == "dice", "model_consensus"].mean(),
    len(data.images),
]
print(ranking.sort_values("mean").round(3))

# %%
# As a scikit-learn scorer
# ------------------------
# :func:`~skiaa.agreement.make_segmentation_scorer` scores any estimator whose
# ``predict`` returns masks, with ``y`` the annotators' masks of each image.
# Here a grid search tunes the threshold offset for the mean Dice against the
# annotators.


class OtsuSegmenter(BaseEstimator):
    """Otsu thresholding as an estimator (nothing to fit)."""

    def __init__(self, offset=0):
        self.offset = offset

    def fit(self, X, y=None):
        return self

    def predict(self, X):
        return np.stack([otsu_segment(image, self.offset) for image in X])


search = GridSearchCV(
    OtsuSegmenter(), {"offset": [-20, -10, 0, 10]}, scoring=make_segmentation_scorer("dice"), cv=2
)
search.fit(data.images, data.masks)
print("best offset:", search.best_params_, "mean Dice:", round(search.best_score_, 3))
