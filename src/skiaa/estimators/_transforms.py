"""Per-batch image preprocessing and the paper's augmentations, on tensors.

Images travel as uint8 (n, C, H, W) batches (or float ones in [0, 1]) from
:class:`skiaa.datasets.ImageDataset` up to the device; :class:`ImagePreprocess`
turns each batch into normalised float there, so no float copy of a whole
dataset is ever made and, on a GPU, the augmentations run on the GPU.
"""

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.transforms.v2 import functional as TF

# The IMA++ channel statistics the paper normalises with (its training code).
IMA_MEAN = (0.7079, 0.5688, 0.5130)
IMA_STD = (0.1304, 0.1248, 0.1429)
# ImageNet channel statistics: what ImageNet-pretrained weights expect, and what the
# paper's authors normalise the external datasets with when fine-tuning.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Augmentation recipes of :func:`augment_batch`. Each step in order: 90-degree
#: rotations, horizontal flip, vertical flip, autocontrast, Gaussian blur (kernel
#: 5), sharpness (factor 2). ``blur_p`` is the probability of the blur, ``blur_sigma``
#: its sigma (a pair: drawn uniformly once per batch).
AUGMENT_RECIPES = {
    # skiaa's own: the paper's text names the operations but not their strengths.
    "skiaa": {"blur_p": None, "blur_sigma": (0.1, 2.0)},
    # The authors' released code: blur always applied with sigma 0.1 (almost a no-op).
    "paper": {"blur_p": 1.0, "blur_sigma": (0.1, 0.1)},
}


def default_norm_stats(backbone, from_weights):
    """The mean/std a backbone's inputs should be normalised with by default.

    Pretrained weights expect the statistics they were trained with: timm's
    ``pretrained_cfg`` mean/std of the model (ImageNet's for nearly every
    model). A backbone trained from scratch gets the IMA++ statistics of the
    paper. Fine-tuning ImageNet weights on few images fed with another
    dataset's statistics costs accuracy (the authors, too, switch to ImageNet
    statistics on external data).

    Parameters
    ----------
    backbone : torch.nn.Module
        A timm model (its ``pretrained_cfg`` is read when present).
    from_weights : bool
        Whether the backbone starts from pretrained or local weights.

    Returns
    -------
    mean, std : tuple of float
    """
    if from_weights:
        cfg = getattr(backbone, "pretrained_cfg", None) or {}
        mean, std = cfg.get("mean"), cfg.get("std")
        if mean is not None and std is not None:
            return tuple(float(m) for m in mean), tuple(float(s) for s in std)
    return IMA_MEAN, IMA_STD


def _per_sample(mask, x, fn):
    # Apply ``fn`` to the samples selected by ``mask`` only.
    if bool(mask.any()):
        x = x.clone()
        x[mask] = fn(x[mask])
    return x


def _any_channels(fn):
    """``fn`` for any channel count: torchvision's autocontrast and sharpness take 1
    or 3 channels only, and both treat channels independently, so other counts go
    through as single-channel images."""

    def apply(v):
        n, c, h, w = v.shape
        if c in (1, 3):
            return fn(v)
        return fn(v.reshape(n * c, 1, h, w)).reshape(n, c, h, w)

    return apply


def augment_batch(x, p=0.5, *, recipe="skiaa"):
    """The paper's augmentations on a float batch (n, C, H, W) in [0, 1].

    Each image independently gets a random multiple of 90 degrees rotation
    (square images only), then with probability ``p`` each: a horizontal flip, a
    vertical flip, autocontrast, a Gaussian blur (kernel 5) and a sharpness
    boost (factor 2), in this order (the order of the authors' code). The
    operations are torchvision's functional transforms
    (:mod:`torchvision.transforms.v2.functional`) applied to the whole batch,
    so they run on the batch's device.

    The two recipes differ only in the blur:

    - ``"skiaa"``: sigma uniform in [0.1, 2.0] (one sigma per batch), applied
      with probability ``p``. The paper's text names the operations but not
      their probabilities or strengths; these are skiaa's.
    - ``"paper"``: the authors' released code, sigma 0.1 and always applied
      (with kernel 5 and sigma 0.1 the blur leaves an image almost unchanged).

    Uses the global torch RNG of ``x``'s device, which the estimators seed from
    ``random_state``.

    Parameters
    ----------
    x : torch.Tensor of shape (n, C, H, W)
        Float images in [0, 1].
    p : float, default=0.5
        Probability of each flip, autocontrast, sharpness step (and of the blur
        with the ``"skiaa"`` recipe).
    recipe : {"skiaa", "paper"}, default="skiaa"
        Which blur, see above.

    Returns
    -------
    augmented : torch.Tensor of shape (n, C, H, W)
        The augmented batch; ``x`` itself is never modified in place.

    Raises
    ------
    ValueError
        If ``recipe`` is unknown.

    Examples
    --------
    >>> import torch
    >>> from skiaa.estimators import augment_batch
    >>> x = torch.rand(4, 3, 16, 16)
    >>> augment_batch(x, recipe="paper").shape
    torch.Size([4, 3, 16, 16])
    """
    if recipe not in AUGMENT_RECIPES:
        raise ValueError(f"recipe must be one of {sorted(AUGMENT_RECIPES)}, got {recipe!r}.")
    blur_p = AUGMENT_RECIPES[recipe]["blur_p"]
    lo, hi = AUGMENT_RECIPES[recipe]["blur_sigma"]
    n = x.shape[0]
    dev = x.device

    def draw(prob=p):
        return torch.rand(n, device=dev) < prob

    if x.shape[-1] == x.shape[-2]:
        k = torch.randint(0, 4, (n,), device=dev)
        for turns in (1, 2, 3):
            x = _per_sample(k == turns, x, lambda v, t=turns: torch.rot90(v, t, dims=(-2, -1)))
    x = _per_sample(draw(), x, TF.horizontal_flip)
    x = _per_sample(draw(), x, TF.vertical_flip)
    x = _per_sample(draw(), x, _any_channels(TF.autocontrast))
    # Reflect padding of a 5-wide kernel needs more than 2 rows and columns.
    if min(x.shape[-2:]) > 4:
        sigma = lo if lo == hi else float(torch.empty(1).uniform_(lo, hi))
        blur = lambda v: TF.gaussian_blur(v, kernel_size=[5, 5], sigma=[sigma, sigma])  # noqa: E731
        if blur_p == 1.0:
            x = blur(x)
        else:
            x = _per_sample(draw(p if blur_p is None else blur_p), x, blur)
    if min(x.shape[-2:]) > 2:
        x = _per_sample(draw(), x, _any_channels(lambda v: TF.adjust_sharpness(v, 2.0)))
    return x


class ImagePreprocess(nn.Module):
    """uint8 (n, C, H, W) in 0-255 or float (n, C, H, W) in [0, 1] -> normalised (n, C, S, S).

    Parameters
    ----------
    image_size : int or None
        Side of the square the images are resized to (bicubic, antialiased);
        None keeps their size.
    mean, std : sequence of float
        Per-channel normalisation, applied to intensities in [0, 1].
    augment : bool or {"skiaa", "paper"}
        Apply :func:`augment_batch` in training mode; True is the ``"skiaa"``
        recipe.
    channels_last : bool
        Return a ``channels_last`` tensor (faster convolutions on GPUs).
    """

    def __init__(self, image_size, mean, std, *, augment=False, channels_last=False):
        super().__init__()
        self.image_size = image_size
        self.augment = augment
        self.channels_last = channels_last
        self.register_buffer("mean", torch.empty(1, len(mean), 1, 1))
        self.register_buffer("std", torch.empty(1, len(std), 1, 1))
        self.set_stats(mean, std)

    def set_stats(self, mean, std):
        """Normalise with other per-channel statistics from now on.

        Parameters
        ----------
        mean, std : sequence of float
            Per-channel mean and standard deviation of intensities in [0, 1].
        """
        # The values as given (the buffers round them to their dtype), for reports.
        self.stats = (tuple(float(m) for m in mean), tuple(float(v) for v in std))
        with torch.no_grad():
            self.mean.copy_(torch.as_tensor(mean, dtype=torch.float64).view(1, -1, 1, 1))
            self.std.copy_(torch.as_tensor(std, dtype=torch.float64).view(1, -1, 1, 1))

    def forward(self, x):
        """Convert, resize, augment (training only) and normalise a batch."""
        # In the buffers' dtype: float32, or float64 in a module built in double
        # precision (torch's default dtype float64).
        dtype = self.mean.dtype
        x = x.to(dtype).div_(255.0) if x.dtype == torch.uint8 else x.to(dtype)
        size = self.image_size
        if size is not None and tuple(x.shape[-2:]) != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bicubic", antialias=True)
            x = x.clamp_(0, 1)
        if self.training and self.augment:
            x = augment_batch(x, recipe="skiaa" if self.augment is True else self.augment)
        x = (x - self.mean) / self.std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x


class ImageModel(nn.Module):
    """:class:`ImagePreprocess` followed by a network; what skorch trains.

    Parameters
    ----------
    preprocess : ImagePreprocess
        Conversion, resizing, augmentation and normalisation.
    net : torch.nn.Module
        The network, with a ``backbone`` attribute.
    freeze_bn : bool, default=False
        Keep the backbone's BatchNorm layers in eval mode in ``train()``: they
        normalise with their stored (pretrained) statistics instead of each
        small batch's, and do not update them. Their affine weights still train.
    """

    def __init__(self, preprocess, net, *, freeze_bn=False):
        super().__init__()
        self.preprocess = preprocess
        self.net = net
        self.freeze_bn = freeze_bn

    def train(self, mode=True):
        """Set train or eval mode; with ``freeze_bn`` the backbone's BatchNorm stays in eval."""
        super().train(mode)
        if mode and getattr(self, "freeze_bn", False):  # absent in older pickles
            for m in self.net.backbone.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self

    def forward(self, x):
        return self.net(self.preprocess(x))
