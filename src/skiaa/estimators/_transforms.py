"""Per-batch image preprocessing and the paper's augmentations, on tensors.

Images travel as uint8 (n, C, H, W) batches (or float ones in [0, 1]) from
:class:`skiaa.datasets.ImageDataset` up to the device; :class:`ImagePreprocess`
turns each batch into normalised float there, so no float copy of a whole
dataset is ever made and, on a GPU, the augmentations run on the GPU.
"""

import torch
from torch import nn
from torch.nn import functional as F

# The IMA++ channel statistics the paper normalises with (its training code).
IMA_MEAN = (0.7079, 0.5688, 0.5130)
IMA_STD = (0.1304, 0.1248, 0.1429)


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


def _blur(x, sigma, kernel_size):
    radius = kernel_size // 2
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[1]
    pad = (radius, radius, radius, radius)
    x = F.pad(x, pad, mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _sharpen(x, factor):
    # torchvision's adjust_sharpness: blend with a 3x3 smoothed image, borders kept.
    c = x.shape[1]
    k = torch.tensor([[1, 1, 1], [1, 5, 1], [1, 1, 1]], dtype=x.dtype, device=x.device) / 13
    smooth = F.conv2d(x, k.expand(c, 1, 3, 3), groups=c)
    blurred = x.clone()
    blurred[..., 1:-1, 1:-1] = smooth
    return (blurred + factor * (x - blurred)).clamp(0, 1)


def _autocontrast(x):
    lo = x.amin(dim=(-2, -1), keepdim=True)
    hi = x.amax(dim=(-2, -1), keepdim=True)
    scale = torch.where(hi > lo, 1.0 / (hi - lo).clamp_min(1e-6), torch.ones_like(hi))
    lo = torch.where(hi > lo, lo, torch.zeros_like(lo))
    return ((x - lo) * scale).clamp(0, 1)


def augment_batch(x, p=0.5):
    """The paper's augmentations on a float batch (n, C, H, W) in [0, 1].

    Each image independently gets a random multiple of 90 degrees rotation
    (square images only), and with probability ``p`` each: a horizontal flip, a
    vertical flip, autocontrast, a Gaussian blur (kernel 5, sigma uniform in
    [0.1, 2.0], one sigma per batch) and a sharpness boost (factor 2). The
    paper names these operations but not their probabilities or strengths;
    these are ours. Uses the global torch RNG of ``x``'s device, which the
    estimators seed from ``random_state``.

    Parameters
    ----------
    x : torch.Tensor of shape (n, C, H, W)
        Float images in [0, 1].
    p : float, default=0.5
        Probability of each flip, autocontrast, blur and sharpness step.

    Returns
    -------
    augmented : torch.Tensor of shape (n, C, H, W)
        The augmented batch; ``x`` itself is never modified in place.
    """
    n = x.shape[0]
    dev = x.device

    def draw():
        return torch.rand(n, device=dev) < p

    if x.shape[-1] == x.shape[-2]:
        k = torch.randint(0, 4, (n,), device=dev)
        for turns in (1, 2, 3):
            x = _per_sample(k == turns, x, lambda v, t=turns: torch.rot90(v, t, dims=(-2, -1)))
    x = _per_sample(draw(), x, lambda v: v.flip(-1))
    x = _per_sample(draw(), x, lambda v: v.flip(-2))
    x = _per_sample(draw(), x, _autocontrast)
    if min(x.shape[-2:]) > 4:
        sigma = float(torch.empty(1).uniform_(0.1, 2.0))
        x = _per_sample(draw(), x, lambda v: _blur(v, sigma, 5))
    if min(x.shape[-2:]) > 2:
        x = _per_sample(draw(), x, lambda v: _sharpen(v, 2.0))
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
    augment : bool
        Apply :func:`augment_batch` in training mode.
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
        # The values as given (the buffers round them to float32), for reports.
        self.stats = (tuple(float(m) for m in mean), tuple(float(v) for v in std))
        with torch.no_grad():
            self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
            self.std.copy_(torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x):
        """Convert, resize, augment (training only) and normalise a batch."""
        x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
        size = self.image_size
        if size is not None and tuple(x.shape[-2:]) != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bicubic", antialias=True)
            x = x.clamp_(0, 1)
        if self.training and self.augment:
            x = augment_batch(x)
        x = (x - self.mean) / self.std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x


class ImageModel(nn.Module):
    """:class:`ImagePreprocess` followed by a network; what skorch trains."""

    def __init__(self, preprocess, net):
        super().__init__()
        self.preprocess = preprocess
        self.net = net

    def forward(self, x):
        return self.net(self.preprocess(x))
