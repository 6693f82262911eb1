"""MultiTaskDiagnosisClassifier: diagnosis with the IAA as an auxiliary target."""

import warnings
from numbers import Real

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.metrics import balanced_accuracy_score
from sklearn.preprocessing import LabelEncoder
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

from .. import nets
from .._docstring import Substitution
from ..losses import MultiTaskLoss
from ..utils import check_labels, warn_caller
from ._base import (
    COMMON_FITTED_DOC,
    COMMON_PARAMETERS_DOC,
    BaseImageEstimator,
    ChanceLevelWarning,
    FitTargets,
)
from ._inputs import _rows
from ._regressor import check_iaa


def _valid_bacc(pred, true):
    logits = pred[0]
    with warnings.catch_warnings():
        # A validation split without some class was warned of once, at the
        # split; sklearn would repeat it every epoch.
        warnings.filterwarnings("ignore", "A single label was found", UserWarning)
        warnings.filterwarnings("ignore", "y_pred contains classes not in y_true", UserWarning)
        return balanced_accuracy_score(true[:, 0].astype(int), logits.argmax(axis=1))


@Substitution(common=COMMON_PARAMETERS_DOC, fitted=COMMON_FITTED_DOC)
class MultiTaskDiagnosisClassifier(ClassifierMixin, BaseImageEstimator):
    """Diagnose lesions from images, with the IAA as an auxiliary training target.

    One timm backbone shared by two heads of the paper's shape (diagnosis and
    IAA), trained with ``alpha * FocalLoss + (1 - alpha) * SmoothL1``
    (:class:`skiaa.losses.MultiTaskLoss`). ``alpha=1`` is the paper's
    diagnosis-only baseline. The best epoch is chosen by validation balanced
    accuracy (paper, section 5).

    Parameters
    ----------
    alpha : float, default=0.5
        Weight of the diagnosis loss in [0, 1] (the paper ablates 0.1 to 0.9).
        1.0 trains the diagnosis alone and needs no ``iaa``.
    focal_gamma : float, default=2.0
        Focusing parameter of the focal loss (paper: 2).
    focal : {"standard", "paper"}, default="standard"
        Form of the focal loss: the standard ``-w (1-p)^gamma log p`` with a
        weighted mean, or the authors' released code, ``-(1-p^w)^gamma w log p``
        with a plain batch mean (:class:`skiaa.losses.FocalLoss` ``variant``).
    class_weight : "balanced", dict or None, default="balanced"
        Weights of the focal loss: "balanced" is the inverse class frequency of
        the training rows (paper), a dict maps labels to weights, None is 1.
    iaa_estimator : fitted IAARegressor, default=None
        Fills in IAA pseudo-labels for rows without one (``iaa=None``, or NaN
        entries in ``iaa``), e.g. images without segmentation masks. It is
        passed on as is by :func:`~sklearn.base.clone` (a fitted model here is
        data, as with :class:`~sklearn.frozen.FrozenEstimator`), so that
        GridSearchCV keeps it fitted.
    freeze_iaa_head : bool, default=False
        Train with the IAA head frozen and the diagnosis loss alone (``alpha``
        is then ignored and ``iaa`` not needed). With ``warm_start=True`` this is
        the paper's fine-tuning on an external dataset (see Examples).
    {common}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, sorted as by :class:`~sklearn.preprocessing.LabelEncoder`.
    net_ : skorch.NeuralNet
        The trained skorch net; ``net_.module_.net`` is the
        :class:`skiaa.nets.MultiTaskNet`.
    history_ : skorch.history.History
        Per-epoch losses and, with a validation split, ``valid_bacc``.
    best_epoch_ : int or None
        Epoch (1-based) kept (highest validation balanced accuracy), None
        without a validation split (the last epoch is kept).
    class_weight_ : ndarray of shape (n_classes,)
        Weights the focal loss used.
    iaa_trained_ : bool
        Whether the IAA head was ever trained (False after diagnosis-only
        training); :meth:`predict_iaa` needs it.
    {fitted}

    See Also
    --------
    IAARegressor : The IAA alone; a fitted one can serve as ``iaa_estimator``.
    skiaa.losses.MultiTaskLoss : The loss.
    skiaa.nets.MultiTaskNet : The torch module.

    Notes
    -----
    ``iaa`` is a sample-aligned fit parameter:
    :class:`~sklearn.model_selection.GridSearchCV`,
    :func:`~sklearn.model_selection.cross_validate` (``params=``)
    and :class:`~sklearn.pipeline.Pipeline` (``clf__iaa=``) slice it with the
    rows, and with metadata routing enabled ``set_fit_request(iaa=True)``
    routes it.

    Examples
    --------
    >>> import numpy as np
    >>> from skiaa import MultiTaskDiagnosisClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 256, size=(16, 32, 32, 3), dtype=np.uint8)
    >>> y = np.array(["benign", "malignant"] * 8)
    >>> iaa = rng.uniform(0.5, 1.0, size=16)
    >>> params = dict(model="test_resnet", image_size=32, max_epochs=1, batch_size=8,
    ...               validation_fraction=None, random_state=0)
    >>> clf = MultiTaskDiagnosisClassifier(alpha=0.5, **params).fit(X, y, iaa=iaa)
    >>> clf.classes_
    array(['benign', 'malignant'], dtype='<U9')
    >>> clf.predict_proba(X).shape, clf.predict_iaa(X).shape
    ((16, 2), (16,))

    Fine-tuning on a dataset without IAA, IAA head frozen (paper, section 5):

    >>> clf.set_params(warm_start=True, freeze_iaa_head=True, lr=0.001)
    MultiTaskDiagnosisClassifier(...)
    >>> clf = clf.fit(X[:8], y[:8])
    """

    _parameter_constraints = {
        **BaseImageEstimator._parameter_constraints,
        "alpha": [Interval(Real, 0, 1, closed="both")],
        "focal_gamma": [Interval(Real, 0, None, closed="left")],
        "focal": [StrOptions({"standard", "paper"})],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "iaa_estimator": [object, None],
        "freeze_iaa_head": ["boolean"],
    }

    def __init__(
        self,
        *,
        alpha=0.5,
        focal_gamma=2.0,
        focal="standard",
        class_weight="balanced",
        iaa_estimator=None,
        freeze_iaa_head=False,
        model="resnet18",
        pretrained=False,
        weights=None,
        image_size=224,
        mean=None,
        std=None,
        augment=True,
        head_init="default",
        head_warmup_epochs="auto",
        freeze_bn="auto",
        augment_passes=3,
        optimizer="auto",
        lr="auto",
        momentum=0.9,
        weight_decay=1e-4,
        lr_step_size=10,
        lr_gamma=0.1,
        max_epochs=50,
        batch_size=32,
        validation_fraction=0.1,
        device="auto",
        mixed_precision="auto",
        channels_last="auto",
        num_workers=0,
        cache_dir=None,
        warm_start=False,
        torch_num_threads=None,
        random_state=None,
        verbose=0,
        callbacks=None,
    ):
        self.alpha = alpha
        self.focal_gamma = focal_gamma
        self.focal = focal
        self.class_weight = class_weight
        self.iaa_estimator = iaa_estimator
        self.freeze_iaa_head = freeze_iaa_head
        self.model = model
        self.pretrained = pretrained
        self.weights = weights
        self.image_size = image_size
        self.mean = mean
        self.std = std
        self.augment = augment
        self.head_init = head_init
        self.head_warmup_epochs = head_warmup_epochs
        self.freeze_bn = freeze_bn
        self.augment_passes = augment_passes
        self.optimizer = optimizer
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.lr_step_size = lr_step_size
        self.lr_gamma = lr_gamma
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.device = device
        self.mixed_precision = mixed_precision
        self.channels_last = channels_last
        self.num_workers = num_workers
        self.cache_dir = cache_dir
        self.warm_start = warm_start
        self.torch_num_threads = torch_num_threads
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks

    def __sklearn_clone__(self):
        # A fitted iaa_estimator is data for this estimator: clone() would unfit it.
        # Everything else (metadata requests included) is cloned as usual.
        iaa_estimator = self.iaa_estimator
        self.iaa_estimator = None
        try:
            new = super().__sklearn_clone__()
        finally:
            self.iaa_estimator = iaa_estimator
        new.iaa_estimator = iaa_estimator
        return new

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.classifier_tags.poor_score = True
        tags.non_deterministic = torch.cuda.is_available()
        return tags

    def _iaa_targets(self, images, iaa):
        n = len(images)
        diagnosis_only = self.alpha == 1.0 or self.freeze_iaa_head
        if diagnosis_only:
            return np.full(n, np.nan, dtype=np.float32)
        if iaa is None:
            missing = np.ones(n, dtype=bool)
            values = np.full(n, np.nan)
        else:
            values = column_or_1d(np.asarray(iaa, dtype=np.float64), warn=True)
            if len(values) != n:
                raise ValueError(f"X has {n} samples but iaa has {len(values)}.")
            missing = np.isnan(values)
        if missing.any():
            if self.iaa_estimator is None:
                what = "iaa is None" if iaa is None else f"iaa is NaN at rows {_rows(missing)}"
                raise ValueError(
                    f"alpha={self.alpha} < 1 needs an IAA target for every row, but {what}. "
                    "Pass iaa, an iaa_estimator (a fitted IAARegressor) to fill it in, or "
                    "alpha=1.0 for diagnosis-only training."
                )
            check_is_fitted(self.iaa_estimator)
            idx = np.flatnonzero(missing)
            arr = images.images
            sub = arr[idx] if isinstance(arr, np.ndarray) else torch.utils.data.Subset(arr, idx)
            values = values.copy()
            values[idx] = self.iaa_estimator.predict(sub)
        return check_iaa(values, name="iaa")

    def fit(self, X, y, iaa=None, validation=None):
        """Train on images ``X`` with diagnoses ``y`` and IAA targets ``iaa``.

        Parameters
        ----------
        X : array-like, sequence of paths or torch Dataset
            Images, as in :meth:`IAARegressor.fit`.
        y : array-like of shape (n_samples,)
            Diagnosis labels (strings or integers).
        iaa : array-like of shape (n_samples,), default=None
            IAA of each image in [0, 1]; NaN where unknown (then filled in by
            ``iaa_estimator``). Not needed when ``alpha=1`` or
            ``freeze_iaa_head=True``.
        validation : array-like of bool of shape (n_samples,), default=None
            Images held out to choose the best epoch, as in
            :meth:`IAARegressor.fit`.

        Returns
        -------
        self : MultiTaskDiagnosisClassifier
            The fitted estimator.

        Raises
        ------
        ValueError
            If ``iaa`` is needed but missing (or NaN without ``iaa_estimator``),
            outside [0, 1], misaligned with ``X``; if ``y`` has one class, or
            ``warm_start`` continues a model fitted on other classes.
        """
        return super().fit(X, y, iaa=iaa, validation=validation)

    # ----- hooks of BaseImageEstimator.fit
    _validation_score = ("valid_bacc", _valid_bacc, False)
    _auto_head_warmup = 5

    def _check_y(self, y):
        # On the labels as given: np.asarray would turn None, NaN and 1 among
        # strings into the classes "None", "nan" and "1" without a word.
        check_labels(y, "y")
        y = column_or_1d(np.asarray(y), warn=True)
        check_classification_targets(y)
        return y

    def _fit_targets(self, images, y, warm, iaa=None):
        n = len(images)
        if len(y) != n:
            raise ValueError(f"X has {n} samples but y has {len(y)}.")
        if warm:
            unknown = sorted(set(np.unique(y).tolist()) - set(self.classes_.tolist()))
            if unknown:
                raise ValueError(
                    f"warm_start=True continues a model with classes {self.classes_.tolist()}; "
                    f"y has other labels {unknown}: map them to those classes first."
                )
            encoder = self._encoder
        else:
            encoder = LabelEncoder().fit(y)
            if len(encoder.classes_) < 2:
                raise ValueError(f"y needs at least 2 classes, got {encoder.classes_.tolist()}.")
        y_enc = encoder.transform(y)
        iaa_values = self._iaa_targets(images, iaa)
        return FitTargets(
            np.stack([y_enc.astype(np.float32), iaa_values], axis=1),
            stratify=y_enc,
            classes=encoder.classes_,
            encoder=encoder,
            # A frozen IAA head is trained on the diagnosis alone.
            alpha=1.0 if self.freeze_iaa_head else self.alpha,
        )

    def _build_net(self, backbone, dim, fit):
        n_classes = len(fit.encoder.classes_)
        return nets.MultiTaskNet(backbone, dim, n_classes, head_init=self.head_init)

    def _init_net(self, net, fit, train_idx):
        # The IAA head's last layer starts at zero weights and the mean training
        # IAA, as IAARegressor's does (see there why: PyTorch's random weights
        # spread the untrained predictions wider than the IAA itself, and a few
        # epochs cannot shrink them); the authors' Kaiming init keeps zero biases.
        if fit.alpha < 1.0 and self.head_init == "default":
            with torch.no_grad():
                net.iaa_head[-1].weight.zero_()
                net.iaa_head[-1].bias.fill_(float(np.nanmean(fit.targets[train_idx, 1])))

    def _prepare_net(self, net, fit):
        net.freeze_iaa_head(self.freeze_iaa_head)

    def _criterion(self, fit, train_idx):
        y_train = fit.stratify[train_idx]
        fit.class_weight = self._class_weights(fit.encoder, y_train, len(fit.encoder.classes_))
        return MultiTaskLoss(
            alpha=fit.alpha, gamma=self.focal_gamma, weight=fit.class_weight, focal=self.focal
        )

    def _set_fitted(self, fit, warm):
        self._encoder = fit.encoder
        self.classes_ = fit.encoder.classes_
        self.class_weight_ = fit.class_weight
        self.iaa_trained_ = (warm and self.iaa_trained_) or fit.alpha < 1.0

    def _check_learning(self, dataset, fit, train_idx, valid_idx):
        # The kept model on the validation rows (the training rows without a
        # split), unaugmented. One class for every image, or a balanced accuracy
        # no better than chance (with a split: at its best epoch), is what a
        # diverged or never-started fine-tuning gives; every score of such a
        # model measures the failure, so the fit says so.
        rows, where = (train_idx, "training") if valid_idx is None else (valid_idx, "validation")
        true = fit.stratify[rows]
        n_present = len(np.unique(true))
        if n_present < 2:
            return  # one class among the rows: balanced accuracy cannot tell
        subset = torch.utils.data.Subset(dataset, np.asarray(rows).tolist())
        logits = self.net_.forward(subset, training=False, device="cpu")[0]
        pred = logits.float().argmax(dim=1).numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # predicted classes absent from the rows
            bacc = balanced_accuracy_score(true, pred)
        chance = 1.0 / n_present
        if len(np.unique(pred)) == 1:
            what = f"predicts {str(self.classes_[pred[0]])!r} for all {len(rows)} {where} images"
        elif bacc <= chance + 1e-9:
            what = f"is no better than chance on its {len(rows)} {where} images"
        else:
            return
        warn_caller(
            f"{type(self).__name__} did not learn: it {what} (balanced accuracy {bacc:.3f}, "
            f"chance {chance:.3f}). Settings to look at: {self._settings_to_check()} "
            '(user guide, "Pretrained backbones").',
            ChanceLevelWarning,
        )

    def _class_weights(self, encoder, y_train, n_classes):
        cw = self.class_weight
        if cw is None:
            return np.ones(n_classes, dtype=np.float32)
        if cw == "balanced":
            present = np.unique(y_train)
            weight = np.ones(n_classes)
            weight[present] = compute_class_weight("balanced", classes=present, y=y_train)
            return weight.astype(np.float32)
        unknown = set(cw) - set(encoder.classes_.tolist())
        if unknown:
            raise ValueError(f"class_weight has labels not in y: {sorted(map(str, unknown))}.")
        return np.array([cw.get(c, 1.0) for c in encoder.classes_], dtype=np.float32)

    def _outputs(self, X):
        images = self._check_predict_images(X)
        logits, iaa = self._forward(images)
        return logits.float(), iaa.float()

    def predict_proba(self, X):
        """Class probabilities (softmax of the diagnosis logits).

        Parameters
        ----------
        X : array-like, sequence of paths or torch Dataset
            Images, as in :meth:`fit`.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``.
        """
        logits, _ = self._outputs(X)
        return torch.softmax(logits, dim=1).numpy().astype(np.float64)

    def predict(self, X):
        """Predicted diagnosis labels (from ``classes_``).

        Parameters
        ----------
        X : array-like, sequence of paths or torch Dataset
            Images, as in :meth:`fit`.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        logits, _ = self._outputs(X)
        return self.classes_[logits.argmax(dim=1).numpy()]

    def predict_iaa(self, X):
        """IAA predicted by the auxiliary head, clamped to [0, 1].

        Parameters
        ----------
        X : array-like, sequence of paths or torch Dataset
            Images, as in :meth:`fit`.

        Returns
        -------
        iaa : ndarray of shape (n_samples,)
            Predicted IAA in [0, 1].

        Raises
        ------
        ValueError
            If the IAA head was never trained (``alpha=1`` training).
        """
        check_is_fitted(self, "net_")
        if not self.iaa_trained_:
            raise ValueError(
                "The IAA head was never trained (alpha=1.0, diagnosis only): "
                "predict_iaa has nothing to predict."
            )
        _, iaa = self._outputs(X)
        return iaa.numpy().clip(0.0, 1.0).astype(np.float64)
