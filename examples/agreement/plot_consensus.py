"""
Consensus masks: majority vote and STAPLE
=========================================

When several annotators outline the same lesion, a single reference mask is
often wanted: for training a segmentation model, or to compare a new
annotation against. The IMA++ release ships two such consensus masks per image,
made with SimpleITK; :mod:`skiaa.agreement` computes the same masks without
SimpleITK:

- :func:`skiaa.majority_vote`: a pixel is lesion when at least half of the
  annotators say so (ties go to the lesion, as in the release);
- :func:`skiaa.staple`: STAPLE (Warfield, Zou & Wells, 2004) estimates, by
  expectation-maximisation, each annotator's sensitivity and specificity and
  weights their votes accordingly.

This example uses synthetic lesions from :func:`skiaa.datasets.make_lesions`,
whose hidden true outline lets us check how close each consensus gets to the
truth, compared with the individual annotators.
"""

# %%
# Lesions with five annotators each
# ---------------------------------
import matplotlib.pyplot as plt
import numpy as np

from skiaa import dice, majority_vote, staple
from skiaa.datasets import make_lesions

data = make_lesions(60, image_size=128, n_masks=5, random_state=1)
print(data.images.shape, "masks per image:", {len(m) for m in data.masks})

# %%
# One malignant lesion, its five masks and the two consensus masks
# ----------------------------------------------------------------
# ``staple`` returns a :class:`~skiaa.agreement.StapleResult`: the posterior
# probability of each pixel being lesion, the thresholded mask (at 0.5, as in
# the release) and the estimated quality of every annotator.
i = int(np.flatnonzero(data.diagnosis == "malignant")[0])
masks = data.masks[i]
mv = majority_vote(masks)
result = staple(masks)
print("STAPLE converged in", result.n_iter, "iterations")
for annotator, tool, se, sp in zip(
    data.annotators[i], data.tools[i], result.sensitivity, result.specificity
):
    print(f"  {annotator} ({tool}): sensitivity {se:.3f}, specificity {sp:.3f}")

# Zoom on the lesion: the union of all masks plus a margin.
rows, cols = np.nonzero(masks.any(axis=0) | data.true_masks[i])
margin = 8
box = (cols.min() - margin, cols.max() + margin, rows.max() + margin, rows.min() - margin)

fig, axes = plt.subplots(1, 3, figsize=(11, 4), layout="constrained")
axes[0].imshow(data.images[i])
colours = plt.get_cmap("tab10").colors
for k, (mask, annotator, tool) in enumerate(zip(masks, data.annotators[i], data.tools[i])):
    axes[0].contour(mask, levels=[0.5], colors=[colours[k]], linewidths=1.5)
    axes[0].plot([], [], color=colours[k], label=f"{annotator} ({tool})")
axes[0].set_title("five annotators' outlines")
axes[0].legend(
    loc="upper center", bbox_to_anchor=(0.5, 0.0), ncols=3, fontsize="small", frameon=False
)

votes = axes[1].imshow(
    masks.sum(axis=0), cmap=plt.get_cmap("Blues", len(masks) + 1), vmin=-0.5, vmax=len(masks) + 0.5
)
axes[1].contour(mv, levels=[0.5], colors="orange", linewidths=2)
axes[1].set_title("votes per pixel; majority vote (orange)")
fig.colorbar(votes, ax=axes[1], shrink=0.8, ticks=range(len(masks) + 1), label="votes")

prob = axes[2].imshow(result.probabilities, cmap="Blues", vmin=0, vmax=1)
axes[2].contour(result.mask, levels=[0.5], colors="orange", linewidths=2)
axes[2].set_title("STAPLE probability; mask (orange)")
fig.colorbar(prob, ax=axes[2], shrink=0.8, label="P(lesion)")
for ax in axes:
    ax.plot(data.outlines[i][:, 1], data.outlines[i][:, 0], "k--", linewidth=1)
    ax.set_xlim(box[0], box[1])
    ax.set_ylim(box[2], box[3])
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle(f"A malignant lesion (image {i}); dashed black: the hidden true outline")

# %%
# How close to the truth?
# -----------------------
# For every image, the Dice of each annotator's mask with the true lesion, and
# that of the two consensus masks. Pooling annotators removes part of their
# individual errors, so both consensus masks are, on average, closer to the
# truth than a typical single annotator; STAPLE and majority vote differ little
# when annotators are of similar quality.
rows = []
for masks_i, truth, diagnosis in zip(data.masks, data.true_masks, data.diagnosis):
    single = [dice(m, truth) for m in masks_i]
    rows.append(
        (
            diagnosis,
            np.mean(single),
            dice(majority_vote(masks_i), truth),
            dice(staple(masks_i).mask, truth),
        )
    )
diagnosis = np.array([r[0] for r in rows])
scores = np.array([r[1:] for r in rows])
labels = ["mean single\nannotator", "majority\nvote", "STAPLE"]

fig, ax = plt.subplots(figsize=(6.5, 4), layout="constrained")
width = 0.38
for offset, (group, colour) in zip((-0.2, 0.2), (("benign", "#0072B2"), ("malignant", "#D55E00"))):
    sel = diagnosis == group
    ax.boxplot(
        scores[sel],
        positions=np.arange(3) + offset,
        widths=width * 0.9,
        patch_artist=True,
        boxprops={"facecolor": colour, "alpha": 0.5},
        medianprops={"color": "k"},
        showfliers=False,
    )
    ax.plot([], [], "s", color=colour, alpha=0.5, label=f"{group} (n={sel.sum()})")
ax.set_xticks(np.arange(3), labels)
ax.set_ylabel("Dice with the true lesion")
ax.set_title("Consensus masks are closer to the truth than single annotators")
ax.legend(loc="lower right")
print(
    "mean Dice with the truth (single, MV, STAPLE):",
    np.round(scores.mean(axis=0), 3),
)
plt.show()
