"""Behaviour of IAARegressor and MultiTaskDiagnosisClassifier (tiny models, CPU)."""

import pickle

import joblib
import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.base import clone
from skorch.callbacks import Callback

import skiaa
from _helpers import fast_params, make_images
from skiaa.estimators import IAARegressor, MultiTaskDiagnosisClassifier

STORES = {}


class RecordTargets(Callback):
    """Stores the training batches' (image, target) rows in ``STORES[key]``.

    Keyed by name, so that the copies clone() makes (GridSearchCV, cross_validate)
    record into the same list.
    """

    def __init__(self, key):
        self.key = key

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        if training:
            STORES.setdefault(self.key, []).append(
                (batch[0].clone(), torch.as_tensor(batch[1]).clone())
            )


def recorder(key):
    STORES[key] = []
    return RecordTargets(key), STORES[key]


@pytest.fixture(scope="module")
def data():
    return make_images(16)


@pytest.fixture(scope="module")
def fitted_reg(data):
    X, _, iaa = data
    return IAARegressor(**fast_params(max_epochs=2)).fit(X, iaa)


@pytest.fixture(scope="module")
def fitted_clf(data):
    X, y, iaa = data
    return MultiTaskDiagnosisClassifier(**fast_params(max_epochs=2)).fit(X, y, iaa=iaa)


def test_lazy_top_level_names():
    assert skiaa.IAARegressor is IAARegressor
    assert skiaa.MultiTaskDiagnosisClassifier is MultiTaskDiagnosisClassifier


def test_regressor_predictions_are_clamped(data, fitted_reg, monkeypatch):
    X, _, _ = data
    pred = fitted_reg.predict(X)
    assert pred.shape == (len(X),) and pred.dtype == np.float64
    assert ((pred >= 0) & (pred <= 1)).all()
    # Push the raw output outside [0, 1]: predict clamps it.
    head = fitted_reg.net_.module_.net.head[-1]
    with torch.no_grad():
        old = head.bias.clone()
        head.bias += 10.0
        try:
            assert (fitted_reg.predict(X) == 1.0).all()
        finally:
            head.bias.copy_(old)


@pytest.mark.parametrize(
    ("bad", "match"),
    [({3: np.nan}, r"NaN or infinite at rows \[3\]"), ({1: 1.5, 5: -0.1}, r"rows \[1, 5\]")],
)
def test_regressor_rejects_bad_targets_naming_rows(data, bad, match):
    X, _, iaa = data
    y = iaa.copy()
    for row, value in bad.items():
        y[row] = value
    with pytest.raises(ValueError, match=match):
        IAARegressor(**fast_params()).fit(X, y)


def test_unknown_model_raises_with_suggestions(data):
    X, _, iaa = data
    with pytest.raises(ValueError, match="Did you mean.*test_resnet"):
        IAARegressor(**fast_params(model="test_resnt")).fit(X, iaa)


def test_iaa_head_starts_at_the_mean_training_iaa(data):
    X, y, iaa = data
    reg = IAARegressor(**fast_params(max_epochs=0, validation_fraction=None)).fit(X, iaa)
    assert reg.net_.module_.net.head[-1].bias.item() == pytest.approx(iaa.mean(), rel=1e-6)
    clf = MultiTaskDiagnosisClassifier(**fast_params(max_epochs=0, validation_fraction=None))
    clf.fit(X, y, iaa=iaa)
    assert clf.net_.module_.net.iaa_head[-1].bias.item() == pytest.approx(iaa.mean(), rel=1e-6)


def test_untrained_regressor_predicts_the_mean_training_iaa(data):
    # The IAA output, not only its bias, starts at the mean: with random weights in
    # the last layer, the untrained network's predictions spread around the mean by
    # more than the IAA itself does, and a few epochs of fine-tuning at a small
    # learning rate left the quick preset's regressor twice as far off as a constant.
    X, _, iaa = data
    reg = IAARegressor(**fast_params(max_epochs=0, validation_fraction=None)).fit(X, iaa)
    np.testing.assert_allclose(reg.predict(X), iaa.mean(), rtol=1e-5)


def test_untrained_multitask_iaa_head_predicts_the_mean_training_iaa(data):
    # The same for the multi-task model's auxiliary head (its random last layer put
    # many of the gallery example's IAA predictions at the clamp of 1.0).
    X, y, iaa = data
    clf = MultiTaskDiagnosisClassifier(**fast_params(max_epochs=0, validation_fraction=None))
    clf.fit(X, y, iaa=iaa)
    np.testing.assert_allclose(clf.predict_iaa(X), iaa.mean(), rtol=1e-5)


def test_same_random_state_same_model(data, fitted_reg):
    X, _, iaa = data
    again = IAARegressor(**fast_params(max_epochs=2)).fit(X, iaa)
    np.testing.assert_array_equal(again.predict(X), fitted_reg.predict(X))
    other = IAARegressor(**fast_params(max_epochs=2, random_state=1)).fit(X, iaa)
    assert not np.array_equal(other.predict(X), fitted_reg.predict(X))


def test_fit_leaves_global_torch_rng_alone(data):
    X, _, iaa = data
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    IAARegressor(**fast_params()).fit(X, iaa)
    assert torch.equal(torch.rand(3), expected)


def test_best_epoch_weights_are_restored(data):
    X, _, iaa = data
    reg = IAARegressor(**fast_params(max_epochs=4, validation_fraction=0.25, lr=0.05)).fit(X, iaa)
    maes = reg.history_[:, "valid_mae"]
    assert len(maes) == 4
    assert reg.best_epoch_ == int(np.argmin(maes)) + 1
    valid = reg.net_.train_split.valid_idx
    assert len(valid) == 4
    mae = np.abs(reg.predict(X[valid]) - iaa[valid]).mean()
    assert mae == pytest.approx(min(maes), abs=1e-5)


def test_no_validation_split_trains_on_all_rows(data):
    X, _, iaa = data
    cb, store = recorder("all_rows")
    reg = IAARegressor(**fast_params(validation_fraction=None, callbacks=[cb])).fit(X, iaa)
    assert reg.best_epoch_ is None
    assert "valid_mae" not in reg.history_[-1]
    seen = np.sort(torch.cat([t for _, t in store]).numpy().ravel())
    np.testing.assert_allclose(seen, np.sort(iaa.astype(np.float32)))


def test_augment_passes_repeat_the_training_rows(data):
    X, _, iaa = data
    cb, store = recorder("passes")
    IAARegressor(**fast_params(validation_fraction=None, augment_passes=3, callbacks=[cb])).fit(
        X, iaa
    )
    assert sum(len(t) for _, t in store) == 3 * len(X)
    store.clear()
    IAARegressor(
        **fast_params(
            validation_fraction=None,
            augment=False,
            augment_passes=3,
            callbacks=[cb],
        )
    ).fit(X, iaa)
    assert sum(len(t) for _, t in store) == len(X)  # passes only apply to augmentation


def test_verbose_prints_the_epoch_table(data, capsys):
    X, _, iaa = data
    IAARegressor(**fast_params(verbose=0)).fit(X, iaa)
    assert capsys.readouterr().out == ""
    IAARegressor(**fast_params(verbose=1)).fit(X, iaa)
    out = capsys.readouterr().out
    assert "train_loss" in out and "valid_mae" in out


def _png_paths(X, folder):
    paths = []
    for i, img in enumerate(X):
        path = folder / f"img_{i}.png"
        Image.fromarray(img).save(path)
        paths.append(str(path))
    return paths


def test_input_formats_give_identical_predictions(data, fitted_reg, tmp_path):
    X, _, _ = data
    reference = fitted_reg.predict(X)
    as_float = X.transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    rgba = np.concatenate([X, np.full(X.shape[:3] + (1,), 7, np.uint8)], axis=-1)
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(X), torch.zeros(len(X)))
    for name, variant in {
        "float CHW": as_float,
        "RGBA": rgba,
        "list of arrays": list(X),
        "paths": _png_paths(X, tmp_path),
        "torch Dataset": dataset,
        "ImageDataset": skiaa.datasets.ImageDataset(X),
        "ImageDataset of a Dataset": skiaa.datasets.ImageDataset(dataset),
        "torch tensor": torch.from_numpy(X),
    }.items():
        np.testing.assert_allclose(fitted_reg.predict(variant), reference, atol=1e-5, err_msg=name)


def test_grayscale_is_converted_to_rgb(fitted_reg):
    gray = np.random.default_rng(1).integers(0, 256, size=(4, 32, 32), dtype=np.uint8)
    rgb = np.repeat(gray[..., None], 3, axis=-1)
    np.testing.assert_array_equal(fitted_reg.predict(gray), fitted_reg.predict(rgb))
    np.testing.assert_array_equal(fitted_reg.predict(gray[..., None]), fitted_reg.predict(rgb))


def test_mixed_sizes_are_resized(fitted_reg):
    rng = np.random.default_rng(2)
    images = [
        rng.integers(0, 256, size=s, dtype=np.uint8) for s in [(40, 50, 3), (32, 32, 3), (20, 24)]
    ]
    pred = fitted_reg.predict(images)
    assert pred.shape == (3,)
    resized = np.asarray(Image.fromarray(images[0]).resize((32, 32), Image.BICUBIC))
    assert pred[0] == pytest.approx(fitted_reg.predict(resized[None])[0], abs=1e-6)


def test_float_images_with_other_channel_counts(data):
    X, _, iaa = data
    five = np.random.default_rng(0).random((len(X), 5, 32, 32), dtype=np.float32)
    with pytest.raises(ValueError, match="mean and std of length 5"):
        IAARegressor(**fast_params()).fit(five, iaa)
    reg = IAARegressor(**fast_params(mean=[0.5] * 5, std=[0.25] * 5)).fit(five, iaa)
    assert reg.n_channels_ == 5
    with pytest.raises(ValueError, match="fitted on 5"):
        reg.predict(X)


@pytest.mark.parametrize(
    ("X", "match"),
    [
        (np.zeros((4, 10)), "not feature tables"),
        (np.zeros((4, 8, 8, 3), dtype=np.int16), "X must be uint8 images"),
        (np.zeros((4, 8, 8, 5), dtype=np.uint8), "C in 1, 3, 4"),
        (np.full((4, 3, 8, 8), np.nan, dtype=np.float32), r"NaN or infinite values in rows \[0"),
    ],
)
def test_bad_inputs_raise(X, match):
    with pytest.raises(ValueError, match=match):
        IAARegressor(**fast_params()).fit(X, np.full(len(X), 0.5))


def test_path_inputs_are_cached(data, tmp_path):
    X, _, iaa = data
    paths = _png_paths(X, tmp_path)
    cache = tmp_path / "cache"
    reg = IAARegressor(**fast_params(cache_dir=cache)).fit(paths, iaa)
    assert any(cache.iterdir())
    np.testing.assert_allclose(reg.predict(paths), reg.predict(X), atol=1e-6)


@pytest.mark.parametrize("fitted", [False, True])
def test_clone_and_set_params(data, fitted_reg, fitted):
    est = fitted_reg if fitted else IAARegressor(**fast_params())
    cloned = clone(est)
    assert cloned.get_params() == est.get_params()
    assert not hasattr(cloned, "net_")


def test_pickle_and_joblib_round_trips(data, fitted_reg, fitted_clf, tmp_path):
    X, _, _ = data
    for est, method in [
        (fitted_reg, "predict"),
        (fitted_clf, "predict_proba"),
        (fitted_clf, "predict_iaa"),
    ]:
        expected = getattr(est, method)(X)
        restored = pickle.loads(pickle.dumps(est))
        np.testing.assert_array_equal(getattr(restored, method)(X), expected)
        path = tmp_path / "est.joblib"
        joblib.dump(est, path)
        np.testing.assert_array_equal(getattr(joblib.load(path), method)(X), expected)


def test_set_params_model_reinitialises(data, fitted_reg):
    X, _, iaa = data
    est = clone(fitted_reg).fit(X, iaa)
    assert type(est.net_.module_.net.backbone).__name__ == "ResNet"
    est.set_params(model="test_vit").fit(X, iaa)
    assert type(est.net_.module_.net.backbone).__name__ == "VisionTransformer"


def test_warm_start_continues_from_previous_weights(data):
    X, _, iaa = data
    reg = IAARegressor(**fast_params(validation_fraction=None)).fit(X, iaa)
    trained = reg.predict(X)
    module = reg.net_.module_
    # Zero more epochs: a warm start keeps the trained weights ...
    reg.set_params(warm_start=True, max_epochs=0).fit(X, iaa)
    # (trained on a copy, so that an interrupted fit leaves the fitted model alone)
    for k, v in reg.net_.module_.state_dict().items():
        assert torch.equal(v, module.state_dict()[k]), k
    np.testing.assert_array_equal(reg.predict(X), trained)
    # ... a cold one re-initialises.
    reg.set_params(warm_start=False).fit(X, iaa)
    assert reg.net_.module_ is not module
    assert not np.allclose(reg.predict(X), trained)
    with pytest.raises(ValueError, match="same model"):
        reg.set_params(warm_start=True, model="test_vit").fit(X, iaa)


def test_user_callbacks_run(data):
    X, _, iaa = data
    cb, store = recorder("user")
    IAARegressor(**fast_params(callbacks=[("rec", cb)])).fit(X, iaa)
    assert store


def test_pretrained_offline_error_from_fit(data, monkeypatch):
    from skiaa import nets

    monkeypatch.setattr(nets, "_hub_reachable", lambda timeout=3.0: False)
    monkeypatch.setattr(nets, "_cached_hub_file", lambda name: None)
    X, _, iaa = data
    with pytest.raises(ValueError, match="weights=PATH"):
        IAARegressor(**fast_params(pretrained=True)).fit(X, iaa)


def test_local_weights_are_used(data, fitted_reg, tmp_path):
    X, _, iaa = data
    path = tmp_path / "backbone.pth"
    torch.save(fitted_reg.net_.module_.net.backbone.state_dict(), path)
    reg = IAARegressor(**fast_params(weights=str(path), max_epochs=0)).fit(X, iaa)
    for (k, v), ref in zip(
        reg.net_.module_.net.backbone.state_dict().items(),
        fitted_reg.net_.module_.net.backbone.state_dict().values(),
    ):
        assert torch.equal(v, ref), k


# ---------------------------------------------------------------- classifier


def test_classifier_labels_and_probabilities(data, fitted_clf):
    X, y, _ = data
    np.testing.assert_array_equal(fitted_clf.classes_, ["benign", "malignant"])
    proba = fitted_clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    pred = fitted_clf.predict(X)
    np.testing.assert_array_equal(pred, fitted_clf.classes_[proba.argmax(axis=1)])
    iaa_pred = fitted_clf.predict_iaa(X)
    assert iaa_pred.shape == (len(X),) and ((iaa_pred >= 0) & (iaa_pred <= 1)).all()
    assert "valid_bacc" in fitted_clf.history_[-1]


def test_classifier_integer_labels_and_three_classes(data):
    X, _, iaa = data
    y = np.array([3, 7, 9, 3] * 4)
    clf = MultiTaskDiagnosisClassifier(**fast_params(validation_fraction=None)).fit(X, y, iaa=iaa)
    np.testing.assert_array_equal(clf.classes_, [3, 7, 9])
    assert set(clf.predict(X)) <= {3, 7, 9}
    assert clf.predict_proba(X).shape == (16, 3)


def test_balanced_class_weights(data):
    X, _, iaa = data
    y = np.array(["a"] * 12 + ["b"] * 4)
    clf = MultiTaskDiagnosisClassifier(**fast_params(validation_fraction=None)).fit(X, y, iaa=iaa)
    np.testing.assert_allclose(clf.class_weight_, [16 / (2 * 12), 16 / (2 * 4)])
    clf = MultiTaskDiagnosisClassifier(
        **fast_params(validation_fraction=None, class_weight={"b": 3.0})
    ).fit(X, y, iaa=iaa)
    np.testing.assert_allclose(clf.class_weight_, [1.0, 3.0])


def test_alpha_one_needs_no_iaa_and_predict_iaa_refuses(data):
    X, y, _ = data
    clf = MultiTaskDiagnosisClassifier(**fast_params(alpha=1.0)).fit(X, y)
    assert not clf.iaa_trained_
    with pytest.raises(ValueError, match="never trained"):
        clf.predict_iaa(X)


def test_missing_iaa_is_an_error_naming_rows(data):
    X, y, iaa = data
    with pytest.raises(ValueError, match="iaa is None"):
        MultiTaskDiagnosisClassifier(**fast_params()).fit(X, y)
    bad = iaa.copy()
    bad[[2, 9]] = np.nan
    with pytest.raises(ValueError, match=r"rows \[2, 9\]"):
        MultiTaskDiagnosisClassifier(**fast_params()).fit(X, y, iaa=bad)
    with pytest.raises(ValueError, match="iaa has 3"):
        MultiTaskDiagnosisClassifier(**fast_params()).fit(X, y, iaa=iaa[:3])
    with pytest.raises(ValueError, match="at least 2 classes"):
        MultiTaskDiagnosisClassifier(**fast_params()).fit(X, np.zeros(16), iaa=iaa)


def test_iaa_estimator_fills_in_pseudo_labels(data, fitted_reg):
    X, y, iaa = data
    cb, store = recorder("pseudo")
    params = fast_params(validation_fraction=None, callbacks=[cb])
    partial = iaa.copy()
    partial[:5] = np.nan
    clf = MultiTaskDiagnosisClassifier(iaa_estimator=fitted_reg, **params)
    clone(clf).fit(X, y, iaa=partial)  # clone keeps the fitted iaa_estimator
    seen = torch.cat([t for _, t in store]).numpy()
    filled = partial.copy()
    filled[:5] = fitted_reg.predict(X[:5])
    np.testing.assert_allclose(np.sort(seen[:, 1]), np.sort(filled.astype(np.float32)), rtol=1e-6)
    store.clear()
    MultiTaskDiagnosisClassifier(iaa_estimator=fitted_reg, **params).fit(X, y)  # iaa=None
    seen = torch.cat([t for _, t in store]).numpy()
    np.testing.assert_allclose(
        np.sort(seen[:, 1]), np.sort(fitted_reg.predict(X).astype(np.float32)), rtol=1e-6
    )


def test_fine_tuning_with_frozen_iaa_head(data, fitted_clf):
    X, y, _ = data
    clf = pickle.loads(pickle.dumps(fitted_clf))
    net = clf.net_.module_.net
    iaa_head = {k: v.clone() for k, v in net.iaa_head.state_dict().items()}
    diag_head = {k: v.clone() for k, v in net.diagnosis_head.state_dict().items()}
    iaa_before = clf.predict_iaa(X)
    rng = np.random.default_rng(5)
    X_new = rng.integers(0, 256, size=(8, 32, 32, 3), dtype=np.uint8)
    clf.set_params(warm_start=True, freeze_iaa_head=True, lr=0.001, validation_fraction=None)
    clf.fit(X_new, y[:8])  # no iaa on the external dataset
    net = clf.net_.module_.net  # a fine-tuned copy of the previous network
    for k, v in net.iaa_head.state_dict().items():
        assert torch.equal(v, iaa_head[k]), k
    assert any(
        not torch.equal(v, diag_head[k]) for k, v in net.diagnosis_head.state_dict().items()
    )
    assert clf.iaa_trained_
    assert clf.predict_iaa(X).shape == iaa_before.shape
    with pytest.raises(ValueError, match="other labels"):
        clf.fit(X_new, np.array(["melanoma", "other"] * 4))


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present: tested on the GPU")
def test_device_auto_is_cpu_without_cuda(fitted_reg):
    assert fitted_reg.device_ == "cpu"
    assert str(fitted_reg.net_.module_.net.head[-1].weight.device) == "cpu"


@pytest.mark.gpu
def test_cuda_training_uses_bf16_and_channels_last(data):
    X, y, iaa = data
    seen = {}

    class Spy(Callback):
        def on_batch_end(self, net, batch=None, training=None, y_pred=None, **kwargs):
            seen["dtype"] = y_pred[0].dtype
            seen["cl"] = net.module_.net.backbone.conv1[0].weight.is_contiguous(
                memory_format=torch.channels_last
            )

    clf = MultiTaskDiagnosisClassifier(**fast_params(callbacks=[Spy()])).fit(X, y, iaa=iaa)
    assert clf.device_ == "cuda"  # device="auto"
    assert clf.net_.module_.net.iaa_head[-1].weight.device.type == "cuda"
    assert seen == {"dtype": torch.bfloat16, "cl": True}
    assert clf.predict_proba(X).shape == (16, 2)
    reg = IAARegressor(**fast_params(mixed_precision=False, channels_last=False)).fit(X, iaa)
    assert reg.predict(X).dtype == np.float64


def test_docstring_shows_paper_defaults():
    est = IAARegressor()
    assert (est.momentum, est.weight_decay, est.max_epochs, est.batch_size) == (
        0.9,
        1e-4,
        50,
        32,
    )
    # "auto" is the paper's SGD at lr 0.01 from scratch (test_pretrained_defaults.py
    # checks what a fit resolves it to, from scratch and from weights).
    assert (est.optimizer, est.lr, est.pretrained, est.weights) == ("auto", "auto", False, None)
    assert (est.lr_step_size, est.lr_gamma, est.image_size) == (10, 0.1, 224)
    assert "IMA++" in IAARegressor.__doc__
