"""Faults fed to the estimators: bad images, bad weights files, bad devices, Ctrl-C.

Each test asserts the exact outcome: the error type, a message naming the item,
that a previously fitted model is unchanged, and that a rerun gives the numbers
of an uninterrupted run.
"""

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold
from skorch.callbacks import Callback

from _helpers import fast_params, make_images
from skiaa.estimators import IAARegressor, MultiTaskDiagnosisClassifier


@pytest.fixture(scope="module")
def data():
    return make_images(16)


@pytest.fixture(scope="module")
def fitted(data):
    X, _, iaa = data
    return IAARegressor(**fast_params(max_epochs=2)).fit(X, iaa)


def _state(est):
    return {k: v.clone() for k, v in est.net_.module_.state_dict().items()}


def _assert_unchanged(est, state, X, pred):
    for k, v in est.net_.module_.state_dict().items():
        assert torch.equal(v, state[k]), k
    np.testing.assert_array_equal(est.predict(X), pred)


# ----------------------------------------------------------------- images


@pytest.mark.parametrize(
    ("make", "match"),
    [
        # 0-255 floats would train on wrong intensities, silently.
        (
            lambda X: X.transpose(0, 3, 1, 2).astype(float),
            r"float images must have intensities in \[0, 1\], but X has values in "
            r"\[0, 255\] in rows \[0, 1, 2, .*divide by 255",
        ),
        (
            lambda X: np.where(np.arange(16)[:, None, None, None] == 5, -0.5, 0.5),
            r"\[-0.5, 0.5\] in rows \[5\] \(1 in all\)",
        ),
        (
            lambda X: X.astype(np.float32) / 255,
            r"looks like \(n, H, W, C\), but float images are read as \(n, C, H, W\)\. "
            r"Accepted layouts: uint8 \(n, H, W, C\).*float \(n, C, H, W\)",
        ),
        (
            lambda X: np.ascontiguousarray(X.transpose(0, 3, 1, 2)),
            r"looks like \(n, C, H, W\), but uint8 images are read as \(n, H, W, C\)",
        ),
        (lambda X: X[:0], r"X holds no images \(0 samples\)"),
        (
            lambda X: torch.utils.data.TensorDataset(
                torch.from_numpy(X.transpose(0, 3, 1, 2).astype(np.float32))
            ),
            r"dataset item 0 has values in \[0, 255\]",
        ),
    ],
    ids=["float-0-255", "float-negative", "float-HWC", "uint8-CHW", "empty", "dataset-0-255"],
)
def test_bad_images_are_refused_naming_the_rows(data, fitted, make, match):
    X, _, iaa = data
    bad = make(X)
    state, pred = _state(fitted), fitted.predict(X)
    with pytest.raises(ValueError, match=match):
        fitted.fit(bad, iaa[: len(bad)])
    _assert_unchanged(fitted, state, X, pred)
    if len(bad):
        with pytest.raises(ValueError, match=match):
            fitted.predict(bad)


def test_float_images_in_range_are_accepted_like_uint8(data, fitted):
    X, _, _ = data
    as_float = X.transpose(0, 3, 1, 2) / 255.0
    np.testing.assert_allclose(fitted.predict(as_float), fitted.predict(X), atol=1e-5)


def test_channel_count_message_names_the_layouts(data):
    X, _, iaa = data
    five = np.random.default_rng(0).random((16, 5, 32, 32), dtype=np.float32)
    with pytest.raises(ValueError, match=r"5 channels.*length 5.*\(n, C, H, W\)"):
        IAARegressor(**fast_params()).fit(five, iaa)


def test_predict_before_fit_is_not_fitted_error(data):
    X, _, _ = data
    for est in (IAARegressor(**fast_params()), MultiTaskDiagnosisClassifier(**fast_params())):
        with pytest.raises(NotFittedError):
            est.predict(X)


def test_one_sample_fits(data):
    X, y, iaa = data

    def fit(n, **params):
        return IAARegressor(**fast_params(**params)).fit(X[:n], iaa[:n])

    # One image, one pass: a batch of one row cannot train the heads' BatchNorm.
    with pytest.raises(ValueError, match="needs at least 2 training rows.*got 1"):
        fit(1, validation_fraction=None, augment=False)
    # One image and a validation split: nothing left to train on.
    with pytest.raises(ValueError, match="leaves no training or validation rows for 1"):
        fit(1)
    # Two images, one held out for validation, one pass: again one training row.
    with pytest.raises(ValueError, match=r"got 1 \(1 held out for validation\)"):
        fit(2, validation_fraction=0.5)
    # Three augmented passes over one image make a batch of three.
    assert fit(1, validation_fraction=None, augment_passes=3).predict(X[:1]).shape == (1,)
    # The classifier's one image has one class.
    clf = MultiTaskDiagnosisClassifier(**fast_params(validation_fraction=None))
    with pytest.raises(ValueError, match=r"y needs at least 2 classes, got \['benign'\]"):
        clf.fit(X[:1], y[:1], iaa=iaa[:1])
    assert not hasattr(clf, "net_")


# ----------------------------------------------------------------- weights


def _weights_files(fitted, folder):
    from safetensors.torch import save_file

    state = fitted.net_.module_.net.backbone.state_dict()
    good = folder / "good.pth"
    torch.save(state, good)
    blob = good.read_bytes()
    st = folder / "good.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, st)
    files = {
        "truncated.pth": blob[: len(blob) // 2],
        "text.pth": b"this is not a checkpoint\n",
        "empty.pt": b"",
        "truncated.safetensors": st.read_bytes()[: len(st.read_bytes()) // 2],
        "text.safetensors": b"\x00\x01",
    }
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return sorted(files)


def test_corrupt_weights_files_name_the_file(data, fitted, tmp_path):
    X, _, iaa = data
    state, pred = _state(fitted), fitted.predict(X)
    for name in _weights_files(fitted, tmp_path):
        path = tmp_path / name
        est = IAARegressor(**fast_params(weights=str(path)))
        with pytest.raises(ValueError, match="Cannot read the weights file") as info:
            est.fit(X, iaa)
        message = str(info.value)
        assert str(path) in message and "\n" not in message, message
        assert "weights_only" not in message  # torch's advice to run the file's code
        # A fitted model asked to refit with it stays as it was.
        fitted.set_params(weights=str(path))
        try:
            with pytest.raises(ValueError, match=name):
                fitted.fit(X, iaa)
        finally:
            fitted.set_params(weights=None)
        _assert_unchanged(fitted, state, X, pred)


def test_missing_weights_file(data, tmp_path):
    X, _, iaa = data
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        IAARegressor(**fast_params(weights=tmp_path / "missing.pth")).fit(X, iaa)


# ----------------------------------------------------------------- devices


@pytest.mark.skipif(torch.cuda.device_count() > 7, reason="this machine has a cuda:7")
@pytest.mark.parametrize(
    ("device", "match"),
    [
        ("cuda:7", r"device='cuda:7' but (CUDA is not available|this machine has \d CUDA)"),
        ("gpu", r"device='gpu' is not a torch device"),
    ],
)
def test_unavailable_device_is_one_line_error(data, fitted, device, match):
    X, _, iaa = data
    state, pred = _state(fitted), fitted.predict(X)
    with pytest.raises(ValueError, match=match) as info:
        IAARegressor(**fast_params(device=device)).fit(X, iaa)
    assert "\n" not in str(info.value)
    fitted.set_params(device=device)
    try:
        with pytest.raises(ValueError, match=match):
            fitted.fit(X, iaa)
    finally:
        fitted.set_params(device="auto")
    _assert_unchanged(fitted, state, X, pred)


# ----------------------------------------------------------------- Ctrl-C


class InterruptAt(Callback):
    """Raises KeyboardInterrupt at training batch ``batch`` of epoch ``epoch`` (1-based)."""

    def __init__(self, epoch=1, batch=1):
        self.epoch = epoch
        self.batch = batch

    def on_epoch_begin(self, net, **kwargs):
        self._batch = 0

    def on_batch_begin(self, net, training=None, **kwargs):
        if not training:
            return
        self._batch += 1
        if len(net.history) == self.epoch and self._batch == self.batch:
            raise KeyboardInterrupt


@pytest.mark.parametrize("max_epochs", [1, 3])
@pytest.mark.parametrize("cls", [IAARegressor, MultiTaskDiagnosisClassifier])
def test_ctrl_c_is_re_raised_and_leaves_nothing(data, cls, max_epochs):
    X, y, iaa = data
    target = iaa if cls is IAARegressor else y
    kwargs = {} if cls is IAARegressor else {"iaa": iaa}
    epoch = max_epochs  # the last epoch: skorch used to return a model that looked finished
    est = cls(**fast_params(max_epochs=max_epochs, callbacks=[InterruptAt(epoch, 2)]))
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, target, **kwargs)
    assert not hasattr(est, "net_") and not hasattr(est, "best_epoch_")
    # The rerun gives exactly the numbers of an uninterrupted run.
    rerun = est.set_params(callbacks=None).fit(X, target, **kwargs)
    reference = cls(**fast_params(max_epochs=max_epochs)).fit(X, target, **kwargs)
    method = "predict" if cls is IAARegressor else "predict_proba"
    np.testing.assert_array_equal(getattr(rerun, method)(X), getattr(reference, method)(X))


def test_ctrl_c_during_a_refit_keeps_the_fitted_model(data, fitted):
    X, _, iaa = data
    state, pred, history = _state(fitted), fitted.predict(X), fitted.history_
    for warm in (False, True):
        fitted.set_params(callbacks=[InterruptAt(1, 1)], warm_start=warm)
        try:
            with pytest.raises(KeyboardInterrupt):
                fitted.fit(X, iaa)
        finally:
            fitted.set_params(callbacks=None, warm_start=False)
        _assert_unchanged(fitted, state, X, pred)
        assert fitted.history_ is history


def test_ctrl_c_stops_a_grid_search(data):
    X, _, iaa = data
    est = IAARegressor(**fast_params(callbacks=[InterruptAt(1, 1)]))
    search = GridSearchCV(est, {"lr": [0.01, 0.02]}, cv=KFold(2), error_score=np.nan)
    with pytest.raises(KeyboardInterrupt):
        search.fit(X, iaa)
    assert not hasattr(search, "cv_results_")


# ----------------------------------------------------------------- one image


@pytest.fixture(scope="module")
def fitted_classifier(data):
    X, y, iaa = data
    return MultiTaskDiagnosisClassifier(**fast_params(max_epochs=1)).fit(X, y, iaa=iaa)


@pytest.mark.parametrize("which", ["regressor", "classifier"])
def test_one_image_to_predict_says_how_to_pass_it(data, fitted, fitted_classifier, which):
    X, _, _ = data
    est = fitted if which == "regressor" else fitted_classifier
    methods = ["predict"] + (["predict_proba", "predict_iaa"] if which == "classifier" else [])
    for method in methods:
        predict = getattr(est, method)
        # An (H, W, 3) image used to be read as H grey images: H predictions.
        with pytest.raises(ValueError) as exc:
            predict(X[0])
        assert str(exc.value) == (
            "X has shape (32, 32, 3), which looks like one (H, W, C) image; estimators take "
            "a batch of images: pass X[None] (shape (1, 32, 32, 3)) for one image."
        )
        with pytest.raises(ValueError, match=r"looks like one \(C, H, W\) image: pass X\[None\]"):
            predict(X[0].transpose(2, 0, 1) / 255.0)
        with pytest.raises(ValueError, match=r"X is one path \('img.png'\); .*\[path\]"):
            predict("img.png")
        # As the message says: one prediction, the batch's first.
        np.testing.assert_array_equal(predict(X[0][None]), predict(X[:1]))
        assert len(predict(X[0][None])) == 1
