"""A shifted synthetic domain for the external fine-tuning step: other colours, sizes, no masks."""

import numbers

import numpy as np
from sklearn.utils import Bunch

from ._synthetic import make_lesions

# A cooler, more saturated rendering than make_lesions' (a different camera and light):
# rows mix the source RGB into the output RGB.
_COLOUR_MIX = np.array([[0.78, 0.12, 0.05], [0.06, 0.86, 0.10], [0.10, 0.22, 0.92]])


def make_external_lesions(
    n_samples=200,
    *,
    image_size=(72, 96),
    melanoma_fraction=0.3,
    gamma=0.8,
    random_state=None,
):
    """Images of another synthetic dermoscopy "dataset": a shifted domain without masks.

    The lesions are drawn as by :func:`make_lesions` (malignant lesions more
    irregular and variegated), then rendered as another device would: colours
    mixed by a fixed matrix (cooler, more saturated), a gamma curve, a
    brightness that varies per image, and another, non-square image size. No
    masks and no agreement come with them: like ISIC 2018, ISIC 2019, derm7pt
    and PH2 in the paper, the set serves to fine-tune a diagnosis model,
    melanoma vs other, with official-like train/val/test splits.

    Parameters
    ----------
    n_samples : int, default=200
        Number of images.
    image_size : int or tuple of (int, int), default=(72, 96)
        Image height and width (an int gives a square image), at least 16.
    melanoma_fraction : float, default=0.3
        Probability that an image shows a melanoma (malignant lesion).
    gamma : float, default=0.8
        Gamma applied to the intensities in [0, 1] (< 1 brightens).
    random_state : int, RandomState instance or None, default=None
        Seed, as in :func:`make_lesions` (scikit-learn's ``check_random_state``).

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With the attributes

        - ``images``: ndarray of shape (n_samples, H, W, 3), dtype uint8;
        - ``label``: ndarray of shape (n_samples,), dtype int, 1 for melanoma,
          0 for any other lesion;
        - ``diagnosis``: ndarray of shape (n_samples,), dtype str,
          ``"melanoma"`` or ``"other"``;
        - ``split``: ndarray of shape (n_samples,), dtype str, ``"train"``,
          ``"val"`` or ``"test"`` (a stratified 70/10/20 split);
        - ``image_ids``: ndarray of shape (n_samples,), dtype str,
          ``"EXT_000000"``, ...

    Raises
    ------
    ValueError
        If ``gamma`` is not positive, or an argument of :func:`make_lesions` is
        invalid.

    Examples
    --------
    >>> from skiaa.datasets import make_external_lesions
    >>> data = make_external_lesions(20, random_state=0)
    >>> data.images.shape, sorted(set(data.split.tolist()))
    ((20, 72, 96, 3), ['test', 'train', 'val'])
    """
    if not isinstance(gamma, numbers.Real) or not gamma > 0:
        raise ValueError(f"gamma must be positive, got {gamma!r}")
    base = make_lesions(
        n_samples,
        image_size=image_size,
        n_masks=2,
        malignant_fraction=melanoma_fraction,
        random_state=random_state,
    )
    # The rendering's own randomness follows from the drawn images, so that the same
    # random_state gives the same data whatever its type.
    rng = np.random.default_rng(int(base.images[:, 0, 0].sum()) % 2**32)
    x = base.images.astype(np.float64) / 255.0
    x = np.einsum("nhwc,dc->nhwd", x, _COLOUR_MIX)
    x = np.clip(x, 0.0, 1.0) ** gamma
    x = x * rng.uniform(0.85, 1.15, size=(len(x), 1, 1, 1))
    images = np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)
    label = (base.diagnosis == "malignant").astype(int)
    split = _stratified_split(label, rng)
    return Bunch(
        images=images,
        label=label,
        diagnosis=np.where(label == 1, "melanoma", "other"),
        split=split,
        image_ids=np.array([f"EXT_{i:06d}" for i in range(len(label))]),
    )


def _stratified_split(label, rng, fractions=(0.7, 0.1, 0.2)):
    """Stratified train/val/test assignment by per-class counts."""
    split = np.empty(len(label), dtype=object)
    for value in np.unique(label):
        idx = rng.permutation(np.flatnonzero(label == value))
        n_train = int(round(fractions[0] * len(idx)))
        n_val = int(round(fractions[1] * len(idx)))
        split[idx[:n_train]] = "train"
        split[idx[n_train : n_train + n_val]] = "val"
        split[idx[n_train + n_val :]] = "test"
    return split.astype(str)
