"""FeatureExtractor: images -> a frozen timm backbone's pooled features.

``make_pipeline(FeatureExtractor(...), LogisticRegression())`` is the linear
probe: the baseline a fine-tuned network has to beat on its own backbone.
Features are cached per image, keyed on the image's pixels and on everything
that changes the features (architecture, weights file content, image size,
normalisation), so a grid search over the probe's parameters, or repeated
cross-validation folds, run the backbone once per image.
"""

import hashlib
import os
import threading
from collections import OrderedDict
from numbers import Integral
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .. import nets
from ..utils import writing
from ._base import _COMMON_CONSTRAINTS, norm_stats, resolve_device, torch_threads
from ._inputs import as_images
from ._transforms import ImagePreprocess

__all__ = ["FeatureExtractor", "clear_feature_cache"]

# Bumped when the extraction recipe changes, so that old cache entries are not reused.
_CACHE_VERSION = 1
# Process-wide memory cache shared by every FeatureExtractor (clones made by
# GridSearchCV included), bounded in bytes; least recently used entries go first.
_MEMORY_LIMIT = 256 * 2**20
_MEMORY = OrderedDict()
_MEMORY_BYTES = [0]
_MEMORY_LOCK = threading.Lock()
# sha256 of weights files, keyed by (path, mtime, size): hashing a checkpoint once.
_WEIGHTS_DIGESTS = {}


def clear_feature_cache():
    """Empty the in-memory feature cache shared by every :class:`FeatureExtractor`.

    Files written under a ``cache`` folder are not touched.
    """
    with _MEMORY_LOCK:
        _MEMORY.clear()
        _MEMORY_BYTES[0] = 0


def _memory_get(key):
    with _MEMORY_LOCK:
        value = _MEMORY.get(key)
        if value is not None:
            _MEMORY.move_to_end(key)
        return value


def _memory_put(key, value):
    with _MEMORY_LOCK:
        if key in _MEMORY:
            return
        _MEMORY[key] = value
        _MEMORY_BYTES[0] += value.nbytes
        while _MEMORY_BYTES[0] > _MEMORY_LIMIT and len(_MEMORY) > 1:
            _, old = _MEMORY.popitem(last=False)
            _MEMORY_BYTES[0] -= old.nbytes


def _file_digest(path):
    path = Path(os.fspath(path))
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {str(path)!r}")
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _WEIGHTS_DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(2**20), b""):
                h.update(block)
        _WEIGHTS_DIGESTS[key] = h.hexdigest()
    return _WEIGHTS_DIGESTS[key]


def _image_digest(img):
    # The pixels, their dtype and shape: two images share a key only when the
    # backbone would see the same input.
    arr = img.numpy() if torch.is_tensor(img) else np.asarray(img)
    arr = np.ascontiguousarray(arr)
    h = hashlib.blake2b(digest_size=20)
    h.update(f"{arr.dtype.str}{arr.shape}".encode())
    h.update(arr.data)
    return h.hexdigest()


class FeatureExtractor(TransformerMixin, BaseEstimator):
    """Pooled features of a frozen timm backbone, one row per image.

    A scikit-learn transformer from images to the backbone's global-pooled
    features (``timm.create_model(model, num_classes=0)``), computed in eval
    mode without gradients. Followed by a linear model it is the *linear
    probe*, the baseline any fine-tuned network on the same backbone should
    beat. Features are cached per image (see ``cache``), so that
    cross-validation and grid searches over the downstream model run the
    backbone once per image.

    Parameters
    ----------
    model : str, default="resnet18"
        Any timm model name (:func:`timm.list_models`); unknown names raise a
        ValueError listing close matches.
    pretrained : bool, default=False
        Start from timm's pretrained weights (downloaded from the Hugging Face
        hub; offline, pass ``weights``).
    weights : str or path-like, default=None
        A local checkpoint loaded into the backbone by name or, when the names
        differ, by position with equal shapes (:func:`skiaa.nets.load_weights`).
        Overrides ``pretrained``.
    image_size : int or None, default=224
        Images are resized (bicubic, antialiased) to ``image_size`` x
        ``image_size``; None keeps their size.
    mean, std : sequence of float, default=None
        Per-channel normalisation of intensities in [0, 1]. None picks the
        statistics the weights were trained with: the model's timm
        ``pretrained_cfg`` mean/std (ImageNet's (0.485, 0.456, 0.406),
        (0.229, 0.224, 0.225) for nearly every model) when ``pretrained`` or
        ``weights`` is set, else the IMA++ statistics
        (:data:`skiaa.estimators.IMA_MEAN`, :data:`~skiaa.estimators.IMA_STD`).
    batch_size : int, default=64
        Images per forward pass.
    cache : "memory", str, path-like or None, default="memory"
        Where features are cached per image. "memory": a cache shared by every
        FeatureExtractor of this process (clones included), bounded to 256 MiB
        (:func:`~skiaa.estimators.clear_feature_cache` empties it). A folder:
        one ``.npy`` file per image and setting, shared between processes and
        runs; unreadable files are recomputed and rewritten. None: no cache.
        Keys are the image's pixels and everything that changes the features
        (architecture, weights file content, image size, mean, std, seed of a
        random initialisation), never file names.
    cache_dir : str or path-like, default=None
        Where decoded images are cached when ``X`` is a sequence of paths
        (:func:`skiaa.datasets.load_images`).
    device : str or torch.device, default="auto"
        "auto" uses CUDA when available, else the CPU.
    torch_num_threads : int or None, default=None
        torch's CPU thread count during ``transform`` (restored afterwards);
        None leaves torch's setting. Fix it where repeatable features matter:
        CPU results depend on the thread count in the last digits.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation of a backbone without ``weights`` or
        ``pretrained`` (random features). Features of a random backbone are
        cached only when ``random_state`` is an int.
    verbose : int, default=0
        1 prints how many images were computed and how many came from the cache.

    Attributes
    ----------
    backbone_ : torch.nn.Module
        The timm backbone in eval mode, on ``device_``.
    n_features_out_ : int
        Width of the features.
    mean_, std_ : tuple of float
        The normalisation used.
    device_ : str
        The device features are computed on.
    n_channels_ : int
        Channels of the images seen in ``fit``.
    n_computed_, n_cached_ : int
        Images whose features the last ``transform`` computed / took from
        the cache.

    See Also
    --------
    skiaa.MultiTaskDiagnosisClassifier : Fine-tunes the backbone instead.
    skiaa.nets.create_backbone : Builds the backbone.

    Notes
    -----
    The transformer is stateless with respect to the data: ``fit`` only builds
    the backbone, so fitting on a training fold leaks nothing from a test fold.
    Features are computed in float32 (no mixed precision), so that cached and
    freshly computed features agree.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from skiaa.estimators import FeatureExtractor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 256, size=(8, 32, 32, 3), dtype=np.uint8)
    >>> y = np.array([0, 1] * 4)
    >>> fx = FeatureExtractor(model="test_resnet", image_size=32, random_state=0)
    >>> fx.fit_transform(X).shape
    (8, 96)
    >>> probe = make_pipeline(fx, LogisticRegression()).fit(X, y)
    >>> probe.predict(X).shape
    (8,)
    """

    _parameter_constraints = {
        **{
            k: _COMMON_CONSTRAINTS[k]
            for k in (
                "model",
                "pretrained",
                "weights",
                "image_size",
                "mean",
                "std",
                "device",
                "torch_num_threads",
                "random_state",
                "verbose",
            )
        },
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "cache": [StrOptions({"memory"}), str, os.PathLike, None],
        "cache_dir": [str, os.PathLike, None],
    }

    def __init__(
        self,
        *,
        model="resnet18",
        pretrained=False,
        weights=None,
        image_size=224,
        mean=None,
        std=None,
        batch_size=64,
        cache="memory",
        cache_dir=None,
        device="auto",
        torch_num_threads=None,
        random_state=None,
        verbose=0,
    ):
        self.model = model
        self.pretrained = pretrained
        self.weights = weights
        self.image_size = image_size
        self.mean = mean
        self.std = std
        self.batch_size = batch_size
        self.cache = cache
        self.cache_dir = cache_dir
        self.device = device
        self.torch_num_threads = torch_num_threads
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.requires_fit = True
        tags.non_deterministic = torch.cuda.is_available()
        return tags

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Build the backbone; the images only give their number of channels.

        Parameters
        ----------
        X : images
            As accepted by the estimators: uint8 (n, H, W[, C]), float
            (n, C, H, W) in [0, 1], a list of uint8 images, a sequence of
            image paths or a torch Dataset.
        y : ignored
            Accepted for pipelines.

        Returns
        -------
        self : FeatureExtractor
            Fitted transformer.
        """
        n_channels = as_images(X, self.image_size, cache_dir=self.cache_dir).n_channels
        nets.check_model_name(self.model)
        from_weights = self.weights is not None or self.pretrained
        seed = None
        if not from_weights:
            seed = (
                int(self.random_state)
                if isinstance(self.random_state, Integral)
                else int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
            )
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            backbone = nets.create_backbone(
                self.model, pretrained=self.pretrained, weights=self.weights, in_chans=n_channels
            )
        self.mean_, self.std_ = norm_stats(self.mean, self.std, n_channels, backbone, from_weights)
        self.device_ = resolve_device(self.device)
        self.backbone_ = backbone.eval().to(self.device_)
        for p in self.backbone_.parameters():
            p.requires_grad_(False)
        self.n_channels_ = n_channels
        self.n_features_out_ = nets.feature_dim(
            self.backbone_, in_chans=n_channels, image_size=self.image_size or 64
        )
        self._key = self._settings_key(seed)
        return self

    def _settings_key(self, seed):
        if self.weights is not None:
            source = "file:" + _file_digest(self.weights)
        elif self.pretrained:
            cfg = getattr(self.backbone_, "pretrained_cfg", {}) or {}
            source = "timm:" + str(cfg.get("hf_hub_id") or cfg.get("url") or self.model)
        elif isinstance(self.random_state, Integral):
            source = f"seed:{seed}"
        else:
            return None  # random weights from a fresh seed: nothing to share
        text = repr(
            (
                _CACHE_VERSION,
                self.model,
                source,
                self.image_size,
                self.mean_,
                self.std_,
                self.n_channels_,
                torch.device(self.device_).type,
                torch.__version__,
            )
        )
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    # ------------------------------------------------------------ transform
    def transform(self, X):
        """Pooled features of each image.

        Parameters
        ----------
        X : images
            As in :meth:`fit`, with the same number of channels.

        Returns
        -------
        features : ndarray of shape (n_samples, ``n_features_out_``), dtype float32
            One row per image, in the order of ``X``.
        """
        check_is_fitted(self, "backbone_")
        images = as_images(X, self.image_size, cache_dir=self.cache_dir)
        n_channels = images.n_channels
        if n_channels != self.n_channels_:
            raise ValueError(
                f"X has {n_channels} channels, but FeatureExtractor was fitted on "
                f"{self.n_channels_}."
            )
        n = len(images)
        out = np.empty((n, self.n_features_out_), dtype=np.float32)
        key = self.__dict__.get("_key")
        keys = [None] * n
        todo = []
        for i in range(n):
            cached = None
            if key is not None and self.cache is not None:
                keys[i] = _image_digest(images[i][0])
                cached = self._cache_get(key, keys[i])
            if cached is None:
                todo.append(i)
            else:
                out[i] = cached
        with torch_threads(self.torch_num_threads):
            for start in range(0, len(todo), self.batch_size):
                idx = todo[start : start + self.batch_size]
                feats = self._forward([images[i][0] for i in idx])
                for i, f in zip(idx, feats):
                    out[i] = f
                    if keys[i] is not None:
                        self._cache_put(key, keys[i], f)
        self.n_computed_, self.n_cached_ = len(todo), n - len(todo)
        if self.verbose:
            print(
                f"FeatureExtractor({self.model}): {len(todo)} image(s) computed, "
                f"{n - len(todo)} from the cache."
            )
        return out

    def _forward(self, batch):
        preprocess = ImagePreprocess(self.image_size, self.mean_, self.std_).eval()
        x = torch.stack(batch)  # (n, C, H, W), uint8 or float in [0, 1]
        with torch.no_grad():
            x = preprocess.to(self.device_)(x.to(self.device_))
            feats = self.backbone_(x).flatten(1)
        return feats.float().cpu().numpy()

    def _cache_get(self, key, digest):
        if self.cache == "memory":
            return _memory_get((key, digest))
        path = Path(os.fspath(self.cache)) / key / f"{digest}.npy"
        try:
            value = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None  # missing or unreadable: recomputed and rewritten
        if value.shape != (self.n_features_out_,) or value.dtype != np.float32:
            return None
        return value

    def _cache_put(self, key, digest, value):
        value = np.array(value, dtype=np.float32)
        if self.cache == "memory":
            _memory_put((key, digest), value)
            return
        folder = Path(os.fspath(self.cache)) / key
        tmp = folder / f".{digest}.{os.getpid()}.{threading.get_ident()}.tmp.npy"
        # A full disk: an error naming the file, and no temporary file left.
        with writing(f"the feature cache file {digest}.npy", folder):
            try:
                folder.mkdir(parents=True, exist_ok=True)
                np.save(tmp, value, allow_pickle=False)
                os.replace(tmp, folder / f"{digest}.npy")  # atomic: never half a file
            finally:
                tmp.unlink(missing_ok=True)

    def get_feature_names_out(self, input_features=None):
        """Names ``"<model>_0"``, ``"<model>_1"``, ... of the output columns.

        Parameters
        ----------
        input_features : ignored
            Images have no feature names.

        Returns
        -------
        names : ndarray of str
            One name per output column.
        """
        check_is_fitted(self, "n_features_out_")
        prefix = self.model.replace(".", "_")
        return np.asarray([f"{prefix}_{i}" for i in range(self.n_features_out_)], dtype=object)

    def __setstate__(self, state):
        super().__setstate__(state)
        backbone = self.__dict__.get("backbone_")
        if backbone is None:
            return
        # A model fitted on a GPU, loaded where there is none, runs on the CPU.
        device = next(backbone.parameters()).device
        if device.type == "cuda" and not torch.cuda.is_available():  # pragma: no cover
            self.backbone_ = backbone.to("cpu")
            self.device_ = "cpu"
