"""Shared machinery of the image estimators: device, seeding, inputs, split, net.

The estimators are scikit-learn estimators with a flat parameter list that build
a skorch :class:`~skorch.NeuralNet` inside ``fit`` (stored as ``net_``). Why not
subclass skorch's nets: GridSearchCV then sees ``model``, ``alpha``, ``lr``, ...
directly, ``set_fit_request(iaa=True)`` follows from ``fit(X, y, iaa=None)``,
labels can be encoded as scikit-learn does, and skorch still supplies the
training loop, callbacks, progress bar and epoch table.
"""

import contextlib
import copy
import os
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet
from skorch.callbacks import Callback, LRScheduler, ProgressBar

from .. import nets
from .._docstring import RANDOM_STATE_DOC, substitute
from ..utils import draw_seed, warn_caller
from ._inputs import as_images
from ._transforms import IMA_MEAN, IMA_STD, ImageModel, ImagePreprocess, default_norm_stats

_OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}

# What ``optimizer="auto"`` and ``lr="auto"`` mean. From scratch: the paper's
# recipe (SGD, Nesterov momentum 0.9, lr 0.01). From pretrained weights: AdamW at
# a tenth of the scratch learning rate or less, which fine-tunes without wiping
# out the pretrained features on few images (measured in
# benchmarks/finetune_vs_probe.py; docs: user guide, "Pretrained backbones").
_AUTO_OPTIMIZER = {False: "sgd", True: "adamw"}
# The largest learning rate at which "auto" freezes the BatchNorm statistics of
# a pretrained backbone and picks AdamW for it. Frozen statistics make every
# BatchNorm a fixed affine map: nothing re-centres a channel whose
# pre-activations a large step pushes below zero, so ReLU6 silences it for every
# image, and it gets no gradient to come back. With SGD at lr 0.01 on 110
# images, most of EfficientNet-Lite0's pooled channels ended constant over the
# images, on some splits all of them: one prediction for every image
# (benchmarks/finetune_lr_range.py; user guide, "Learning rates a grid search
# tries"). Above this rate "auto" trains the
# statistics (batch statistics re-centre every channel at every step) and
# uses SGD: a rate that high is an SGD rate, at which AdamW erases the
# pretrained features.
_FROZEN_BN_MAX_LR = 1e-3
_AUTO_LR = {
    ("sgd", False): 0.01,
    ("sgd", True): 0.001,
    ("adam", False): 0.001,
    ("adam", True): 3e-4,
    ("adamw", False): 0.001,
    ("adamw", True): 3e-4,
}


class ChanceLevelWarning(ConvergenceWarning):
    """A fitted classifier predicts no better than chance on the rows it was checked on.

    Raised at the end of ``fit`` when the kept model predicts one class for
    every validation image (every training image without a validation split),
    or its balanced accuracy there is no better than chance: training diverged
    or never started, and a score computed from it would describe that failure,
    not the method. The message names the settings to look at (learning rate,
    optimizer, ``freeze_bn``, warm-up, epochs). A subclass of scikit-learn's
    :class:`~sklearn.exceptions.ConvergenceWarning`, so that filters of that
    class also apply.
    """


def _optimizer_name(opt):
    """``"sgd"``, ``"adam"`` or ``"adamw"`` for skiaa's optimizers, else the class."""
    return next((k for k, v in _OPTIMIZERS.items() if v is opt), opt)


def resolve_device(device):
    """``"auto"`` -> ``"cuda"`` when available, else ``"cpu"``; check other values.

    Raises
    ------
    ValueError
        If ``device`` is not a torch device, or names a CUDA device this
        machine does not have (one line, instead of torch's traceback at the
        first batch).
    """
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a torch device ({exc}).") from None
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(
                f"device={str(device)!r} but CUDA is not available on this machine; "
                'use device="cpu" or device="auto".'
            )
        if dev.index is not None and dev.index >= count:
            raise ValueError(
                f"device={str(device)!r} but this machine has {count} CUDA device(s), "
                f"cuda:0 to cuda:{count - 1}."
            )
    return str(device)


@contextlib.contextmanager
def torch_threads(n):
    """Fix torch's CPU thread count to ``n`` inside the block (None: leave it)."""
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def norm_stats(mean, std, n_channels, backbone, from_weights):
    """The checked (mean, std) of an estimator's ``mean``/``std`` parameters.

    Both None: :func:`default_norm_stats` (the weights' own statistics, or
    IMA++'s from scratch); one None: IMA++'s for that one.
    """
    if mean is None and std is None:
        mean, std = default_norm_stats(backbone, from_weights)
    else:
        mean = IMA_MEAN if mean is None else tuple(np.ravel(mean).tolist())
        std = IMA_STD if std is None else tuple(np.ravel(std).tolist())
    if len(mean) != n_channels or len(std) != n_channels:
        raise ValueError(
            f"X has {n_channels} channels but mean/std have {len(mean)}/{len(std)} values: "
            f"pass mean and std of length {n_channels}. (Channels are counted from "
            "uint8 images as (n, H, W, C), always 3, and from float images as "
            "(n, C, H, W).)"
        )
    if min(std) <= 0:
        raise ValueError(f"std must be positive, got {std}.")
    return tuple(float(m) for m in mean), tuple(float(v) for v in std)


class TrainBatches(torch.utils.data.Sampler):
    """Batches of ``batch_size`` rows whose 1-row remainder joins the previous batch.

    A training batch of one row crashes the heads' BatchNorm ("Expected more than
    1 value per channel when training"); it happens whenever the number of
    training rows (times ``augment_passes``) is 1 more than a multiple of
    ``batch_size``. Merging it keeps every row in every epoch (dropping it, as
    the paper's authors do, would lose a row in some epochs). Only a training
    set of a single row still gives a batch of one; ``fit`` refuses it.
    """

    def __init__(self, sampler, batch_size):
        self.sampler = sampler
        self.batch_size = int(batch_size)

    def __iter__(self):
        full, batch = None, []
        for i in self.sampler:
            batch.append(int(i))
            if len(batch) == self.batch_size:
                if full is not None:
                    yield full
                full, batch = batch, []
        if len(batch) == 1 and full is not None:
            full, batch = full + batch, []
        if full is not None:
            yield full
        if batch:
            yield batch

    def __len__(self):
        n_full, rest = divmod(len(self.sampler), self.batch_size)
        return n_full + (1 if rest > 1 or (rest == 1 and n_full == 0) else 0)


class TrainLoader(torch.utils.data.DataLoader):
    """skorch's training iterator: shuffled :class:`TrainBatches`.

    Takes skorch's ``batch_size``/``shuffle``/``generator`` arguments; the
    shuffled order is the one a ``DataLoader(shuffle=True, generator=...)``
    gives.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, generator=None, **kwargs):
        if shuffle:
            sampler = torch.utils.data.RandomSampler(dataset, generator=generator)
        else:
            sampler = torch.utils.data.SequentialSampler(dataset)
        super().__init__(
            dataset,
            batch_sampler=TrainBatches(sampler, batch_size),
            generator=generator,
            **kwargs,
        )


class _FixedSplit:
    """A skorch ``train_split`` returning given train/validation indices."""

    def __init__(self, train_idx, valid_idx, passes=1):
        self.train_idx = train_idx
        self.valid_idx = valid_idx
        self.passes = passes

    def __call__(self, dataset, y=None, **fit_params):
        # ``passes`` > 1 repeats the training rows: the paper's "three augmented
        # passes over the training set per epoch".
        train = torch.utils.data.Subset(dataset, np.tile(self.train_idx, self.passes).tolist())
        if self.valid_idx is None or len(self.valid_idx) == 0:
            return train, None
        return train, torch.utils.data.Subset(dataset, self.valid_idx.tolist())


class BestEpoch(Callback):
    """Score the validation predictions each epoch and restore the best weights.

    The best weights are kept in memory (on the CPU), not in a checkpoint file:
    fixed file names collide between parallel fits (skorch issues #848, #819).
    Records ``name`` and ``name + "_best"`` in the history (the epoch table
    shows them).
    """

    def __init__(self, name, score, lower_is_better):
        self.name = name
        self.score = score
        self.lower_is_better = lower_is_better

    def initialize(self):
        self.best_score_ = None
        self.best_epoch_ = None
        self._best_state = None
        self._pred, self._true = [], []
        return self

    def on_epoch_begin(self, net, **kwargs):
        self._pred, self._true = [], []

    def on_batch_end(self, net, batch=None, training=None, y_pred=None, **kwargs):
        if training:
            return
        if isinstance(y_pred, tuple):
            y_pred = tuple(p.detach().float().cpu() for p in y_pred)
        else:
            y_pred = y_pred.detach().float().cpu()
        self._pred.append(y_pred)
        self._true.append(torch.as_tensor(batch[1]).cpu())

    def on_epoch_end(self, net, **kwargs):
        if not self._pred:
            return  # no validation split
        if isinstance(self._pred[0], tuple):
            pred = tuple(torch.cat(p).numpy() for p in zip(*self._pred))
        else:
            pred = torch.cat(self._pred).numpy()
        score = float(self.score(pred, torch.cat(self._true).numpy()))
        better = self.best_score_ is None or (
            score < self.best_score_ if self.lower_is_better else score > self.best_score_
        )
        net.history.record(self.name, score)
        net.history.record(self.name + "_best", bool(better))
        if better:
            self.best_score_ = score
            self.best_epoch_ = len(net.history)
            self._best_state = {
                k: v.detach().to("cpu", copy=True) for k, v in net.module_.state_dict().items()
            }

    def on_train_end(self, net, **kwargs):
        if self._best_state is not None:
            net.module_.load_state_dict(self._best_state)
        self._best_state = None  # not pickled with the estimator


def _given_split(validation, n):
    """Training and validation rows of a ``validation`` mask given to ``fit``."""
    mask = np.asarray(validation)
    if mask.dtype != bool or mask.shape != (n,):
        raise ValueError(
            f"validation must be a boolean array of shape ({n},), one value per image of X; "
            f"got dtype {mask.dtype} and shape {mask.shape}."
        )
    if mask.all() or not mask.any():
        raise ValueError(
            f"validation marks {int(mask.sum())} of {n} images: it needs at least one "
            "training and one validation image."
        )
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def rows_loader(dataset, rows, batch_size):
    """``rows`` of ``dataset`` in order, in batches whose 1-row rest joins the previous one."""
    rows = list(rows)
    return torch.utils.data.DataLoader(
        torch.utils.data.Subset(dataset, rows),
        batch_sampler=TrainBatches(torch.utils.data.SequentialSampler(rows), batch_size),
    )


def recalibrate_batchnorm(module, dataset, rows, batch_size, device):
    """Recompute the running statistics of ``module``'s training BatchNorm layers.

    After an epoch on augmented batches, the running statistics of the
    BatchNorm layers in training mode describe augmented images, and
    predictions (unaugmented) are normalised with them. With the backbone's
    statistics frozen the heads' BatchNorm gets the whole shift: it made a
    fine-tuned classifier predict one class for every image. Here the
    statistics are recomputed over ``rows`` of ``dataset`` without augmentation
    and without dropout, as the average of their batches' statistics (torch's
    cumulative average, as in :func:`torch.optim.swa_utils.update_bn`, which
    cannot be used here: it would augment, drop out and reset frozen layers). Layers
    in eval mode during training (a frozen backbone's, a frozen IAA head's)
    keep theirs. ``module`` is left in training mode.
    """
    layers = [
        m
        for m in module.modules()
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.training
    ]
    if not layers:
        return
    momenta = [m.momentum for m in layers]
    module.eval()
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches
        m.train()
    try:
        with torch.no_grad():
            for x, _ in rows_loader(dataset, rows, batch_size):
                module(x.to(device))
    finally:
        for m, momentum in zip(layers, momenta):
            m.momentum = momentum
        module.train()


class _TrainingInterrupted(BaseException):
    """Carries a KeyboardInterrupt past skorch's ``partial_fit``, which swallows it."""


class SkiaaNet(NeuralNet):
    """skorch's NeuralNet with optional bf16 autocast; Ctrl-C is not swallowed.

    skorch's ``partial_fit`` catches ``KeyboardInterrupt`` and returns a partly
    trained net as if training had finished; a caller (GridSearchCV, a cached
    study step) would carry on with it. Here ``fit`` re-raises it.
    """

    def __init__(self, *args, autocast=False, after_train_epoch=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.autocast = autocast
        self.after_train_epoch = after_train_epoch

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        super().run_single_epoch(iterator, training, prefix, step_fn, **fit_params)
        # Between an epoch's training and its validation (skorch has no hook there).
        if training and getattr(self, "after_train_epoch", None) is not None:
            self.after_train_epoch(self)

    def fit_loop(self, X, y=None, **fit_params):
        try:
            return super().fit_loop(X, y, **fit_params)
        except KeyboardInterrupt as exc:
            raise _TrainingInterrupted from exc

    def fit(self, X, y=None, **fit_params):
        try:
            return super().fit(X, y, **fit_params)
        except _TrainingInterrupted as exc:
            raise KeyboardInterrupt from exc.__cause__

    def infer(self, x, **fit_params):
        device_type = torch.device(self.device).type
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=bool(self.autocast)):
            return super().infer(x, **fit_params)


_COMMON_CONSTRAINTS = {
    "model": [str],
    "pretrained": ["boolean"],
    "weights": [str, os.PathLike, None],
    "image_size": [Interval(Integral, 1, None, closed="left"), None],
    "mean": ["array-like", None],
    "std": ["array-like", None],
    "augment": ["boolean", StrOptions({"skiaa", "paper"})],
    "head_init": [StrOptions({"default", "kaiming"})],
    "augment_passes": [Interval(Integral, 1, None, closed="left")],
    "head_warmup_epochs": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
    "freeze_bn": ["boolean", StrOptions({"auto"})],
    "optimizer": [StrOptions({"auto", *_OPTIMIZERS}), type],
    "lr": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
    "momentum": [Interval(Real, 0, 1, closed="both")],
    "weight_decay": [Interval(Real, 0, None, closed="left")],
    "lr_step_size": [Interval(Integral, 1, None, closed="left"), None],
    "lr_gamma": [Interval(Real, 0, None, closed="neither")],
    "max_epochs": [Interval(Integral, 0, None, closed="left")],
    # >= 2: a batch of one row cannot train the heads' BatchNorm.
    "batch_size": [Interval(Integral, 2, None, closed="left")],
    "validation_fraction": [Interval(Real, 0, 1, closed="left"), None],
    "device": [str, object],
    "mixed_precision": ["boolean", StrOptions({"auto"})],
    "channels_last": ["boolean", StrOptions({"auto"})],
    "num_workers": [Interval(Integral, 0, None, closed="left")],
    "cache_dir": [object, None],
    "warm_start": ["boolean"],
    "torch_num_threads": [Interval(Integral, 1, None, closed="left"), None],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
    "callbacks": [list, None],
}


class BaseImageEstimator(BaseEstimator):
    """Private base class of :class:`IAARegressor` and the multi-task classifier.

    :meth:`fit` holds every step the estimators share (inputs, seeding, split,
    network, warm start, training, fitted attributes). A subclass supplies:

    - ``_check_y(y)``: check ``y`` alone (before any image is decoded);
    - ``_fit_targets(images, y, warm, **fit_params)``: the training targets
      (and the extra fit parameters), as a :class:`FitTargets`;
    - ``_build_net(backbone, dim, fit)``: the network after the preprocessing
      (the heads);
    - ``_init_net(net, fit, train_idx)``: optional, before training a new
      network (e.g. head biases from the training rows);
    - ``_criterion(fit, train_idx)``: the loss;
    - ``_validation_score``: ``(name, score(pred, true), lower_is_better)``,
      which chooses the best epoch;
    - ``_set_fitted(fit, warm)``: optional, its own fitted attributes.
    """

    _parameter_constraints = dict(_COMMON_CONSTRAINTS)
    _validation_score = None
    # What lr="auto" and head_warmup_epochs="auto" mean (measured in
    # benchmarks/finetune_vs_probe.py; user guide, "Pretrained backbones").
    _auto_lr = _AUTO_LR
    _auto_head_warmup = 0

    # ----- the shared fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, **fit_params):
        """Train on images ``X`` with targets ``y`` (see the subclasses)."""
        nets.check_model_name(self.model)
        device, _, channels_last = self._runtime()  # a bad device fails before any work
        y = self._check_y(self._require_y(y))  # cheap checks before decoding images
        images = self._images(X)
        warm = self.warm_start and getattr(self, "net_", None) is not None
        if warm and (self.model_name_ != self.model or self.n_channels_ != images.n_channels):
            raise ValueError("warm_start=True needs the same model and number of channels.")
        validation = fit_params.pop("validation", None)
        fit = self._fit_targets(images, y, warm, **fit_params)
        if len(fit.targets) != len(images):
            raise ValueError(f"X has {len(images)} samples but y has {len(fit.targets)}.")
        seed = self._seed()
        if validation is None:
            train_idx, valid_idx = self._split(len(images), seed, fit.stratify, fit.classes)
        else:
            train_idx, valid_idx = _given_split(validation, len(images))
        passes = self.augment_passes if self.augment else 1
        if len(train_idx) * passes < 2:
            held = "" if valid_idx is None else f" ({len(valid_idx)} held out for validation)"
            raise ValueError(
                f"{type(self).__name__} needs at least 2 training rows: a batch of one row "
                f"cannot train the heads' BatchNorm; got 1{held}."
            )
        criterion = self._criterion(fit, train_idx)
        best = BestEpoch(*self._validation_score)
        with self._fork_rng(device), torch_threads(self.torch_num_threads):
            torch.manual_seed(seed)
            if warm:
                # A copy: an interrupted or failed fit leaves the fitted model as it was.
                module = copy.deepcopy(self.net_.module_)
                self._refresh_preprocess(module, images.n_channels)
            else:
                module = self._make_module(images.n_channels, channels_last, fit)
                self._init_net(module.net, fit, train_idx)
            self._prepare_net(module.net, fit)
            freeze_bn = self._freeze_bn()
            module.freeze_bn = freeze_bn
            warmup = 0 if warm else self._head_warmup_epochs()
            if warmup:
                self._warm_up_heads(
                    module, images.with_targets(fit.targets), train_idx, criterion, device, warmup
                )
            net = self._fit_net(
                images.with_targets(fit.targets),
                module=module,
                criterion=criterion,
                train_idx=train_idx,
                valid_idx=valid_idx,
                best=best,
                seed=seed,
            )
        self.net_ = net
        self.best_epoch_ = best.best_epoch_
        self.head_warmup_epochs_ = warmup
        self.freeze_bn_ = freeze_bn
        self.n_channels_ = images.n_channels
        self.model_name_ = self.model
        self.device_ = device
        # What "auto" resolved to, for the methods section of a paper.
        self.mean_, self.std_ = net.module_.preprocess.stats
        self.lr_ = float(net.lr)
        self.optimizer_ = _optimizer_name(net.optimizer)
        self._set_fitted(fit, warm)
        with torch_threads(self.torch_num_threads):
            self._check_learning(images.with_targets(fit.targets), fit, train_idx, valid_idx)
        return self

    # ----- hooks with defaults
    def _init_net(self, net, fit, train_idx):
        """Adjust a new network before training (default: nothing)."""

    def _prepare_net(self, net, fit):
        """Adjust the network, new or warm-started, before training (default: nothing)."""

    def _set_fitted(self, fit, warm):
        """Set the subclass's own fitted attributes (default: none)."""

    def _check_learning(self, dataset, fit, train_idx, valid_idx):
        """Warn when the fitted model shows it learned nothing (default: no check)."""

    def _settings_to_check(self):
        """The fitted settings that decide whether fine-tuning learns, for warnings."""
        return (
            f"lr={self.lr_:g} with optimizer {self.optimizer_!r}, "
            f"freeze_bn={self.freeze_bn_}, head_warmup_epochs={self.head_warmup_epochs_}, "
            f"max_epochs={self.max_epochs}"
        )

    # ----- input handling
    def _require_y(self, y):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        return y

    def _images(self, X):
        return as_images(X, self.image_size, cache_dir=self.cache_dir)

    def _check_predict_images(self, X):
        check_is_fitted(self, "net_")
        images = self._images(X)
        if images.n_channels != self.n_channels_:
            raise ValueError(
                f"X has {images.n_channels} channels, but {type(self).__name__} was fitted on "
                f"{self.n_channels_}."
            )
        return images

    def _from_weights(self):
        """Whether the backbone starts from pretrained or local weights."""
        return self.weights is not None or bool(self.pretrained)

    def _freeze_bn(self):
        """``freeze_bn`` with "auto" resolved: frozen when fine-tuning pretrained weights
        at a learning rate of at most ``_FROZEN_BN_MAX_LR``."""
        if self.freeze_bn != "auto":
            return bool(self.freeze_bn)
        return self._from_weights() and self._optimizer_and_lr()[1] <= _FROZEN_BN_MAX_LR

    def _head_warmup_epochs(self):
        """``head_warmup_epochs`` with "auto" resolved (``_auto_head_warmup`` from weights)."""
        if self.head_warmup_epochs == "auto":
            return self._auto_head_warmup if self._from_weights() else 0
        return int(self.head_warmup_epochs)

    def _warm_up_heads(self, module, dataset, train_idx, criterion, device, epochs):
        """Train the heads alone on the frozen backbone's features of the training rows.

        The features are computed once, in eval mode and without augmentation
        (a linear probe's features, one forward pass); the heads then train on
        them for ``epochs`` epochs of shuffled batches of
        ``batch_size`` with AdamW (lr 1e-3, ``weight_decay``) and the
        estimator's loss. The fine-tuning that follows starts from heads that
        already fit the frozen features, so that its first steps do not send a
        random head's gradients into the pretrained backbone ("LP-FT", Kumar
        et al., ICLR 2022). The caller has seeded torch's RNG.
        """
        module.to(device)
        net = module.net
        module.eval()
        feats, targets = [], []
        with torch.no_grad():
            for x, t in rows_loader(dataset, train_idx.tolist(), self.batch_size):
                feats.append(net.backbone(module.preprocess(x.to(device))).flatten(1).float())
                targets.append(t.to(device))
        feats, targets = torch.cat(feats), torch.cat(targets)
        params = [p for n, p in net.named_parameters() if not n.startswith("backbone.")]
        params = [p for p in params if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=self.weight_decay)
        module.train()
        n = len(feats)
        for _ in range(epochs):
            order = torch.randperm(n).tolist()
            for batch in TrainBatches(order, self.batch_size):
                opt.zero_grad()
                loss = criterion(net.forward_heads(feats[batch]), targets[batch])
                loss.backward()
                opt.step()
        module.eval()

    def _norm_stats(self, n_channels, backbone=None):
        return norm_stats(self.mean, self.std, n_channels, backbone, self._from_weights())

    def _optimizer_and_lr(self):
        """The optimizer class and learning rate, "auto" resolved (see _AUTO_LR)."""
        pretrained = self._from_weights()
        opt = self.optimizer
        if opt == "auto":
            # A learning rate given above _FROZEN_BN_MAX_LR is an SGD rate, also
            # from pretrained weights.
            high = self.lr != "auto" and float(self.lr) > _FROZEN_BN_MAX_LR
            opt = _AUTO_OPTIMIZER[pretrained and not high]
        opt_cls = _OPTIMIZERS[opt] if isinstance(opt, str) else opt
        lr = self.lr
        if lr == "auto":
            name = next((k for k, v in _OPTIMIZERS.items() if v is opt_cls), None)
            if name is None:
                raise ValueError(
                    f'lr="auto" needs optimizer "sgd", "adam" or "adamw"; got {opt!r}: '
                    "pass a float lr."
                )
            lr = self._auto_lr[name, pretrained]
        return opt_cls, float(lr)

    # ----- runtime options
    def _runtime(self):
        device = resolve_device(self.device)
        on_cuda = torch.device(device).type == "cuda"
        amp = on_cuda if self.mixed_precision == "auto" else bool(self.mixed_precision)
        cl = on_cuda if self.channels_last == "auto" else bool(self.channels_last)
        return device, amp, cl

    def _split(self, n, seed, stratify=None, classes=None):
        """Training and validation rows, stratified on ``stratify`` when given.

        ``classes`` names the values of ``stratify`` (encoded labels) in the
        warning about a validation split without some class.
        """
        frac = self.validation_fraction
        idx = np.arange(n)
        if not frac:
            return idx, None
        n_valid = int(np.ceil(frac * n))
        if n_valid < 1 or n - n_valid < 1:
            raise ValueError(
                f"validation_fraction={frac} leaves no training or validation rows for {n} "
                "samples; use validation_fraction=None to train on all of them."
            )
        random_split = ShuffleSplit(n_splits=1, test_size=n_valid, random_state=seed)
        if stratify is None:
            return next(random_split.split(idx))
        try:
            strat = StratifiedShuffleSplit(n_splits=1, test_size=n_valid, random_state=seed)
            train_idx, valid_idx = next(strat.split(idx, stratify))
        except ValueError as exc:  # a class too small to stratify (tiny CV folds)
            warn_caller(f"Validation split not stratified ({exc}); using a random split.")
            train_idx, valid_idx = next(random_split.split(idx))
        missing = np.setdiff1d(stratify, stratify[valid_idx])
        if len(missing):
            names = missing if classes is None else np.asarray(classes)[missing]
            warn_caller(
                f"The validation split ({len(valid_idx)} of {n} rows) holds no sample of class "
                f"{', '.join(repr(str(c)) for c in names)}: the best epoch is chosen on the "
                "other classes alone. Use a larger validation_fraction, or "
                "validation_fraction=None to keep the last epoch."
            )
        return train_idx, valid_idx

    def _make_module(self, n_channels, channels_last, fit):
        backbone = nets.create_backbone(
            self.model,
            pretrained=self.pretrained,
            weights=self.weights,
            in_chans=n_channels,
            image_size=self.image_size,
        )
        dim = nets.feature_dim(backbone, in_chans=n_channels, image_size=self.image_size or 64)
        mean, std = self._norm_stats(n_channels, backbone)
        preprocess = ImagePreprocess(
            self.image_size, mean, std, augment=self.augment, channels_last=channels_last
        )
        module = ImageModel(preprocess, self._build_net(backbone, dim, fit))
        if channels_last:
            module = module.to(memory_format=torch.channels_last)
        return module

    def _refresh_preprocess(self, module, n_channels):
        """On ``warm_start``, the preprocessing follows the current ``mean``, ``std`` and
        ``augment`` (the paper fine-tunes with ImageNet statistics on external sets)."""
        if self.mean is not None or self.std is not None:
            module.preprocess.set_stats(*self._norm_stats(n_channels))
        module.preprocess.augment = self.augment

    def _fit_net(self, dataset, *, module, criterion, train_idx, valid_idx, best, seed):
        device, amp, _ = self._runtime()
        opt_cls, lr = self._optimizer_and_lr()
        opt_kwargs = {"weight_decay": self.weight_decay}
        if opt_cls is torch.optim.SGD:
            # Paper: SGD, Nesterov momentum 0.9.
            opt_kwargs.update(momentum=self.momentum, nesterov=self.momentum > 0)
        callbacks = [("best_epoch", best)]
        if self.lr_step_size is not None:
            callbacks.append(
                (
                    "lr_scheduler",
                    LRScheduler(
                        policy=torch.optim.lr_scheduler.StepLR,
                        step_size=self.lr_step_size,
                        gamma=self.lr_gamma,
                    ),
                )
            )
        if self.verbose and self.verbose >= 2:
            callbacks.append(("progress_bar", ProgressBar()))
        for i, cb in enumerate(self.callbacks or []):
            name = cb[0] if isinstance(cb, tuple) else f"user_{i}_{type(cb).__name__}"
            cb = cb[1] if isinstance(cb, tuple) else cb
            callbacks.append((name, cb))
        gen = torch.Generator().manual_seed(seed)
        after_train_epoch = None
        if self.augment and module.freeze_bn:
            rows = np.asarray(train_idx).tolist()

            def after_train_epoch(net):
                recalibrate_batchnorm(net.module_, dataset, rows, self.batch_size, device)

        net = SkiaaNet(
            module=module,
            criterion=criterion,
            optimizer=opt_cls,
            lr=lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            iterator_train=TrainLoader,
            iterator_train__shuffle=True,
            iterator_train__generator=gen,
            iterator_train__num_workers=self.num_workers,
            iterator_valid__num_workers=self.num_workers,
            train_split=_FixedSplit(
                train_idx, valid_idx, self.augment_passes if self.augment else 1
            ),
            callbacks=callbacks,
            predict_nonlinearity=None,
            device=device,
            verbose=int(bool(self.verbose)),
            autocast=amp,
            after_train_epoch=after_train_epoch,
            **{f"optimizer__{k}": v for k, v in opt_kwargs.items()},
        )
        net.fit(dataset, y=None)
        net.after_train_epoch = None  # a closure over the training data: not kept
        # The shuffling generator only matters during fit; torch < 2.3 cannot pickle
        # it, and a fitted model has no use for its state (every fit seeds a new one).
        net.iterator_train__generator = None
        return net

    def _seed(self):
        return draw_seed(self.random_state)

    def _fork_rng(self, device):
        devices = []
        if torch.device(device).type == "cuda":
            idx = torch.device(device).index
            devices = [torch.cuda.current_device() if idx is None else idx]
        return torch.random.fork_rng(devices=devices)

    def _forward(self, images):
        """Forward pass over ``images`` (an ImageDataset) in eval mode; tensors on the CPU."""
        with torch_threads(self.torch_num_threads):
            return self.net_.forward(images, training=False, device="cpu")

    def __setstate__(self, state):
        super().__setstate__(state)
        net = self.__dict__.get("net_")
        if net is None or "device_" not in self.__dict__:
            return
        # skorch's own __setstate__ has already mapped a CUDA-trained net to the CPU
        # when this process has no GPU (a model trained on a Dask worker's GPU and
        # loaded on a CPU-only client). Keep ``device_`` true to where the weights
        # now are, and let ``mixed_precision="auto"`` mean "CUDA only" here too:
        # otherwise the CPU would predict under bf16 autocast, slower and less exact.
        device = str(net.device)
        if torch.device(device).type != torch.device(self.device_).type:
            self.device_ = device
            if self.mixed_precision == "auto":
                net.autocast = torch.device(device).type == "cuda"

    @property
    def history_(self):
        """skorch :class:`~skorch.history.History` of the last fit."""
        return self.net_.history


class FitTargets:
    """What a subclass's ``_fit_targets`` hands to the shared :meth:`BaseImageEstimator.fit`.

    Parameters
    ----------
    targets : ndarray of shape (n_samples, n_targets), float32
        One row per image, as the criterion takes it (2-D: skorch would
        broadcast a 1-D regression target against (n, 1) outputs).
    stratify : ndarray of shape (n_samples,) or None
        Labels the validation split is stratified on.
    classes : array-like or None
        The names of ``stratify``'s values when they are codes 0..k-1 (for
        messages); None names them by value.
    **extra
        Anything the subclass's later hooks need (stored as attributes).
    """

    def __init__(self, targets, stratify=None, classes=None, **extra):
        self.targets = targets
        self.stratify = stratify
        self.classes = classes
        self.__dict__.update(extra)


_COMMON_PARAMETERS_TEMPLATE = """\
    model : str, default="resnet18"
        Any timm model name (:func:`timm.list_models`); ResNet-18 is one of the
        paper's three best backbones. Unknown names raise a ValueError listing
        close matches. Changing it with ``set_params`` re-initialises the network
        at the next ``fit``.
    pretrained : bool, default=False
        Start from timm's ImageNet weights (the paper does). They are downloaded
        from the Hugging Face hub; offline, ``fit`` raises a ValueError telling
        to pass ``weights``. False by default because skiaa must run offline.
    weights : str or path-like, default=None
        Local checkpoint (``.pth``, ``.pt`` or ``.safetensors``) loaded into the
        backbone, by name or, when the names differ, by position with equal
        shapes (see :func:`skiaa.nets.load_weights`). Overrides ``pretrained``.
        A file that cannot be read raises a ValueError naming it.
    image_size : int or None, default=224
        Images are resized (bicubic) to ``image_size`` x ``image_size``, as in
        the paper; None keeps their size (all images must then have one size).
    mean, std : sequence of float, default=None
        Per-channel normalisation of intensities in [0, 1]. None picks the
        statistics the backbone's weights expect: with ``pretrained`` or
        ``weights``, the model's timm ``pretrained_cfg`` mean/std (ImageNet's
        (0.485, 0.456, 0.406), (0.229, 0.224, 0.225) for nearly every model);
        from scratch, the IMA++ statistics of the paper, mean (0.7079, 0.5688,
        0.5130), std (0.1304, 0.1248, 0.1429). The paper feeds its ImageNet
        backbones IMA++ statistics on IMA++: pass them explicitly to follow it.
        With ``warm_start``, a value given applies to the continued training and
        to later predictions (the paper fine-tunes on external sets with
        ImageNet statistics); None keeps those the network was trained with.
    augment : bool or {"skiaa", "paper"}, default=True
        Apply the paper's augmentations (random 90 degree rotations, flips,
        autocontrast, Gaussian blur, sharpness) to training batches only, on
        the device (:func:`skiaa.estimators.augment_batch`). True is skiaa's
        recipe (``"skiaa"``: blur sigma 0.1-2 with p=0.5); ``"paper"`` the
        authors' released code (blur sigma 0.1, always).
    head_init : {"default", "kaiming"}, default="default"
        Initialisation of the heads: PyTorch's default, except that the IAA
        output layer starts at zero weights and a bias of the mean training
        IAA, so that the untrained network predicts the mean; or the authors'
        Kaiming-normal weights with zero biases (:class:`skiaa.nets.PaperHead`).
    head_warmup_epochs : int or "auto", default="auto"
        Epochs the heads are trained alone on the frozen backbone's features of
        the training rows (computed once, without augmentation) before the
        whole network is fine-tuned: linear probing, then fine-tuning (LP-FT,
        Kumar et al., ICLR 2022). Costs one forward pass over the training
        rows. "auto": from pretrained ``weights``, 5 for the diagnosis
        classifier (at a few epochs its randomly initialised head otherwise
        spends them finding the classes; 30 fitted the training rows too
        closely) and 0 for :class:`~skiaa.IAARegressor` (whose head then fits
        the noise of a hundred IAA values); 0 from scratch. Measured in the
        user guide, "Pretrained backbones". The value used is
        ``head_warmup_epochs_``; a ``warm_start`` fit never warms up.
    freeze_bn : bool or "auto", default="auto"
        Keep the backbone's BatchNorm layers in eval mode while training: they
        normalise with their stored statistics instead of each batch's and do
        not update them (their scale and shift still train). With small
        batches of images unlike ImageNet, updating them moves every feature
        the pretrained layers compute and the heads were fitted to. Frozen,
        the heads' BatchNorm statistics are also recomputed on the unaugmented
        training rows after every epoch (before validation): otherwise they
        describe augmented images, and the shift could make a classifier
        predict one class for every image. "auto": frozen with
        ``pretrained``/``weights`` at a learning rate of at most 1e-3, trained
        above it and from scratch (the paper trains them and recomputes
        nothing). Frozen statistics make each BatchNorm a fixed affine map, so
        a large step can push a channel below zero for every image, where
        ReLU silences it for good: with SGD at 0.01 the features of
        EfficientNet-Lite0 could become the same for every image.
        The value used is ``freeze_bn_``.
    augment_passes : int, default=3
        Augmented passes over the training rows per epoch when ``augment`` is
        True (the paper: 3). Use 1 for a third of the training time.
    optimizer : {"auto", "sgd", "adam", "adamw"} or torch optimizer class, \
default="auto"
        "sgd" is the paper's SGD with Nesterov momentum. "auto": "sgd" from
        scratch, "adamw" when fine-tuning ``pretrained``/``weights``, except
        that a float ``lr`` above 1e-3 gets "sgd" there too (a rate that high
        is an SGD rate; AdamW at it erases the pretrained features). See the
        user guide, "Pretrained backbones", for the measurements; the value
        used is ``optimizer_``.
    lr : float or "auto", default="auto"
        Learning rate. "auto": from scratch 0.01 with SGD (paper) and 0.001
        with Adam/AdamW; from pretrained weights 0.001 with SGD and 3e-4 with
        Adam/AdamW (:class:`~skiaa.IAARegressor`: 1e-4, which keeps the
        features nearer the pretrained ones, where the weak signal of the IAA
        lies). The value used is ``lr_`` after ``fit``.
    momentum : float, default=0.9
        SGD momentum, Nesterov when > 0 (paper: 0.9). Ignored by other optimisers.
    weight_decay : float, default=1e-4
        Paper: 1e-4.
    lr_step_size, lr_gamma : int or None, float, default=10, 0.1
        The learning rate is multiplied by ``lr_gamma`` every ``lr_step_size``
        epochs (paper: divided by 10 every 10 epochs). ``lr_step_size=None``
        keeps it constant.
    max_epochs : int, default=50
        Paper: 50.
    batch_size : int, default=32
        Paper: 32. Also the batch size of prediction. At least 2: a training
        batch of one row cannot train the heads' BatchNorm, so a 1-row
        remainder of an epoch joins the previous batch.
    validation_fraction : float or None, default=0.1
        Fraction of the training rows held out (seeded by ``random_state``) to
        choose the best epoch, whose weights are restored at the end of ``fit``.
        None or 0 trains on all rows and keeps the last epoch. The classifier
        stratifies it on the labels and warns when it still holds no sample
        of some class (few rows of a rare class). Ignored when ``fit`` is
        given a ``validation`` mask.
    device : str or torch.device, default="auto"
        "auto" uses CUDA when available, else the CPU. A CUDA device this
        machine does not have raises a ValueError at ``fit``.
    mixed_precision : bool or "auto", default="auto"
        Use bf16 autocast in the forward pass; "auto" turns it on on CUDA only.
    channels_last : bool or "auto", default="auto"
        Use the channels_last memory format for the network and batches; "auto" turns
        it on on CUDA only.
    num_workers : int, default=0
        DataLoader worker processes.
    cache_dir : str or path-like, default=None
        Where decoded images are cached when ``X`` is a sequence of paths.
    warm_start : bool, default=False
        When True, ``fit`` continues from the weights of the previous ``fit``
        instead of re-initialising the network (same ``model`` required).
    torch_num_threads : int or None, default=None
        Number of CPU threads torch uses during ``fit`` and ``predict`` (the
        previous setting is restored afterwards); None leaves torch's setting.
        torch's CPU results depend on its thread count in the last digits, and
        joblib's workers (``GridSearchCV(n_jobs=2)``) lower it: set it, together
        with ``random_state``, for results that do not depend on ``n_jobs``.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, validation split, batch order and
        augmentations (torch's global RNG is restored afterwards). For results
        equal across runs with different ``n_jobs``, also set
        ``torch_num_threads``; on CUDA, results are repeatable only up to
        non-deterministic GPU kernels.
        {random_state}
    verbose : int, default=0
        0: silent; 1: skorch's epoch table; 2: also a progress bar per epoch.
    callbacks : list of skorch callbacks or (name, callback) tuples, default=None
        Extra skorch callbacks, used as given (as skorch does: their state is
        shared between fits; :func:`~sklearn.base.clone` copies them)."""

#: The parameters both estimators share, for their docstrings' ``{common}`` line.
COMMON_PARAMETERS_DOC = substitute(_COMMON_PARAMETERS_TEMPLATE, random_state=RANDOM_STATE_DOC)

#: The fitted attributes both estimators share, for their ``{fitted}`` line.
COMMON_FITTED_DOC = """\
    n_channels_ : int
        Number of image channels seen in ``fit``.
    device_ : str
        Device the network was trained on.
    mean_, std_ : tuple of float
        The normalisation used (``mean``/``std`` or what None resolved to).
    lr_ : float
        The learning rate used (``lr`` or what "auto" resolved to).
    optimizer_ : str or torch optimizer class
        The optimizer used: ``"sgd"``, ``"adam"`` or ``"adamw"`` (``optimizer``
        or what "auto" resolved to), or the class given.
    head_warmup_epochs_ : int
        Epochs the heads were warmed up on frozen features
        (``head_warmup_epochs`` or what "auto" resolved to; 0 after a
        ``warm_start`` fit).
    freeze_bn_ : bool
        Whether the backbone's BatchNorm statistics were frozen
        (``freeze_bn`` or what "auto" resolved to)."""
