"""What optimizer="auto", lr="auto" and mean/std=None resolve to, from scratch and pretrained."""

import numpy as np
import pytest
import timm
import torch

from skiaa.estimators import IMA_MEAN, IMA_STD, IAARegressor, MultiTaskDiagnosisClassifier

CFG = timm.create_model("test_resnet").pretrained_cfg
WEIGHTS_STATS = (tuple(CFG["mean"]), tuple(CFG["std"]))


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("w") / "test_resnet.pth"
    torch.save(timm.create_model("test_resnet", num_classes=10).state_dict(), path)
    return path


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(12, 32, 32, 3), dtype=np.uint8)
    return X, np.array([0, 1] * 6), rng.uniform(0.4, 1.0, 12)


def fit(cls, data, **params):
    X, y, iaa = data
    params = {
        "model": "test_resnet",
        "image_size": 32,
        "max_epochs": 1,
        "batch_size": 6,
        "augment_passes": 1,
        "validation_fraction": None,
        "random_state": 0,
        **params,
    }
    if cls is IAARegressor:
        return cls(**params).fit(X, iaa)
    return cls(alpha=1.0, **params).fit(X, y)


@pytest.mark.parametrize("cls", [IAARegressor, MultiTaskDiagnosisClassifier])
def test_from_scratch_is_the_papers_recipe(cls, data):
    est = fit(cls, data)
    assert est.net_.optimizer is torch.optim.SGD and est.optimizer_ == "sgd"
    assert est.lr_ == 0.01
    assert (est.mean_, est.std_) == (IMA_MEAN, IMA_STD)


@pytest.mark.parametrize("cls", [IAARegressor, MultiTaskDiagnosisClassifier])
def test_pretrained_weights_get_adamw_a_small_lr_and_their_own_statistics(cls, data, weights):
    est = fit(cls, data, weights=weights)
    lr = 1e-4 if cls is IAARegressor else 3e-4
    assert est.net_.optimizer is torch.optim.AdamW and est.optimizer_ == "adamw"
    assert est.lr_ == lr
    assert (est.mean_, est.std_) == WEIGHTS_STATS
    preprocess = est.net_.module_.preprocess
    np.testing.assert_allclose(preprocess.mean.flatten().numpy(), WEIGHTS_STATS[0], rtol=1e-6)
    # The optimizer really ran at that learning rate.
    assert est.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(lr)


def test_explicit_settings_win(data, weights):
    est = fit(MultiTaskDiagnosisClassifier, data, weights=weights, optimizer="sgd")
    assert est.net_.optimizer is torch.optim.SGD and est.lr_ == 0.001
    est = fit(
        MultiTaskDiagnosisClassifier,
        data,
        weights=weights,
        lr=0.05,
        mean=IMA_MEAN,
        std=IMA_STD,
    )
    # A rate above 1e-3 with optimizer="auto" is an SGD rate, also from weights.
    assert est.net_.optimizer is torch.optim.SGD and est.lr_ == 0.05
    assert (est.mean_, est.std_) == (IMA_MEAN, IMA_STD)
    est = fit(IAARegressor, data, optimizer="adam")
    assert est.lr_ == 0.001


def test_auto_lr_needs_a_known_optimizer(data):
    with pytest.raises(ValueError, match='lr="auto" needs optimizer'):
        fit(IAARegressor, data, optimizer=torch.optim.RMSprop)
    est = fit(IAARegressor, data, optimizer=torch.optim.RMSprop, lr=0.002)
    assert est.net_.optimizer is torch.optim.RMSprop and est.lr_ == 0.002


def test_warm_start_keeps_the_statistics_unless_new_ones_are_given(data, weights):
    X, y, _ = data
    est = fit(MultiTaskDiagnosisClassifier, data, weights=weights)
    est.set_params(warm_start=True).fit(X, y)
    assert (est.mean_, est.std_) == WEIGHTS_STATS
    est.set_params(mean=IMA_MEAN, std=IMA_STD).fit(X, y)
    assert (est.mean_, est.std_) == (IMA_MEAN, IMA_STD)
    preprocess = est.net_.module_.preprocess
    np.testing.assert_allclose(preprocess.std.flatten().numpy(), IMA_STD, rtol=1e-6)


# ----- head warm-up on frozen features (LP-FT) and frozen BatchNorm statistics


def _bn_stats(module):
    return {
        name: buf.detach().clone()
        for name, buf in module.net.backbone.named_buffers()
        if name.endswith(("running_mean", "running_var"))
    }


def _state(module, prefix):
    return {k: v.detach().clone() for k, v in module.state_dict().items() if k.startswith(prefix)}


@pytest.mark.parametrize("cls", [IAARegressor, MultiTaskDiagnosisClassifier])
def test_auto_freezes_bn_and_warms_up_the_classifier_only_from_weights(cls, data, weights):
    scratch = fit(cls, data)
    assert (scratch.head_warmup_epochs_, scratch.freeze_bn_) == (0, False)
    pretrained = fit(cls, data, weights=weights)
    warmup = 5 if cls is MultiTaskDiagnosisClassifier else 0
    assert (pretrained.head_warmup_epochs_, pretrained.freeze_bn_) == (warmup, True)
    explicit = fit(cls, data, weights=weights, head_warmup_epochs=2, freeze_bn=False)
    assert (explicit.head_warmup_epochs_, explicit.freeze_bn_) == (2, False)
    assert fit(cls, data, freeze_bn=True).freeze_bn_ is True


@pytest.mark.parametrize(
    ("params", "optimizer", "frozen"),
    [
        ({"lr": 1e-4}, "adamw", True),
        ({"lr": 1e-3}, "adamw", True),
        # Above 1e-3 a rate is an SGD rate, and frozen statistics let large
        # steps silence channels for every image: both follow the rate.
        ({"lr": 1e-2}, "sgd", False),
        ({"lr": 1e-2, "optimizer": "adamw"}, "adamw", False),
        ({"lr": 1e-3, "optimizer": "sgd"}, "sgd", True),
        ({"lr": 1e-2, "freeze_bn": True}, "sgd", True),
        ({"optimizer": "sgd"}, "sgd", True),  # its "auto" rate from weights is 1e-3
    ],
)
def test_auto_follows_the_learning_rate_from_weights(params, optimizer, frozen, data, weights):
    est = fit(MultiTaskDiagnosisClassifier, data, weights=weights, **params)
    assert (est.optimizer_, est.freeze_bn_) == (optimizer, frozen)
    assert est.net_.optimizer is {"sgd": torch.optim.SGD, "adamw": torch.optim.AdamW}[optimizer]
    # From scratch nothing is frozen, and any rate keeps the paper's SGD.
    scratch = fit(MultiTaskDiagnosisClassifier, data, **params)
    assert scratch.freeze_bn_ is params.get("freeze_bn", False)
    assert scratch.optimizer_ == params.get("optimizer", "sgd")


def test_optimizer_class_given_is_reported_as_given(data):
    est = fit(IAARegressor, data, optimizer=torch.optim.RMSprop, lr=1e-3)
    assert est.optimizer_ is torch.optim.RMSprop


@pytest.mark.parametrize("cls", [IAARegressor, MultiTaskDiagnosisClassifier])
def test_frozen_bn_keeps_the_pretrained_statistics(cls, data, weights):
    untrained = fit(cls, data, weights=weights, max_epochs=0).net_.module_
    start, _start_params = _bn_stats(untrained), _state(untrained, "net.backbone.")
    frozen = fit(cls, data, weights=weights, max_epochs=2, freeze_bn=True).net_.module_
    for name, value in _bn_stats(frozen).items():
        torch.testing.assert_close(value, start[name], rtol=0, atol=0, msg=name)
    # BatchNorm's scale and shift still train.
    affine = [
        n for n, v in _state(frozen, "net.backbone.").items()
        if n.endswith(".weight") and "bn" in n and not torch.equal(v, _start_params[n])
    ]  # fmt: skip
    assert affine
    trained = fit(cls, data, weights=weights, max_epochs=2, freeze_bn=False).net_.module_
    moved = [n for n, v in _bn_stats(trained).items() if not torch.equal(v, start[n])]
    assert moved, "freeze_bn=False must update the running statistics"
    # In train mode the backbone's BatchNorm layers stay in eval mode, the rest trains.
    frozen.train()
    bns = [m for m in frozen.net.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns) and frozen.net.training


@pytest.mark.parametrize("cls", [IAARegressor, MultiTaskDiagnosisClassifier])
def test_warmup_trains_the_heads_alone(cls, data, weights):
    base = dict(weights=weights, max_epochs=0)
    cold = fit(cls, data, head_warmup_epochs=0, **base).net_.module_
    warm = fit(cls, data, head_warmup_epochs=3, **base).net_.module_
    # Same seed, so the same initial network: warm-up changed the heads only.
    for k, v in _state(cold, "net.backbone.").items():
        torch.testing.assert_close(_state(warm, "net.backbone.")[k], v, rtol=0, atol=0, msg=k)
    heads = [k for k in cold.state_dict() if k.startswith("net.") and ".backbone." not in k]
    heads = [k for k in heads if not k.startswith("net.backbone")]
    changed = [k for k in heads if not torch.equal(cold.state_dict()[k], warm.state_dict()[k])]
    assert changed and all(k.endswith(("weight", "bias", "running_mean", "running_var",
                                       "num_batches_tracked")) for k in changed)  # fmt: skip


def test_warmup_lowers_the_training_loss_on_frozen_features(data, weights):
    X, _, iaa = data
    losses = []
    for epochs in (0, 20):
        reg = fit(IAARegressor, data, weights=weights, max_epochs=0, head_warmup_epochs=epochs)
        losses.append(float(np.abs(reg.predict(X) - iaa).mean()))
    assert losses[1] < losses[0]


def test_warmup_sees_only_the_training_rows(data, weights):
    # The validation rows' targets must not reach the heads before fine-tuning:
    # changing them leaves the warmed-up network unchanged (same seed, same split).
    X, _, iaa = data
    params = dict(
        model="test_resnet", image_size=32, max_epochs=0, batch_size=6, augment_passes=1,
        weights=weights, head_warmup_epochs=5, validation_fraction=0.25, random_state=0,
    )  # fmt: skip
    a = IAARegressor(**params).fit(X, iaa)
    valid = np.setdiff1d(np.arange(len(X)), a.net_.train_split.train_idx)
    assert len(valid) == 3
    other = iaa.copy()
    other[valid] = 1.0 - other[valid]
    b = IAARegressor(**params).fit(X, other)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    changed = iaa.copy()
    changed[a.net_.train_split.train_idx[0]] = 0.0
    c = IAARegressor(**params).fit(X, changed)
    assert not np.array_equal(a.predict(X), c.predict(X))


def test_interrupted_warmup_leaves_the_estimator_unchanged(data, weights, monkeypatch):
    X, y, _ = data
    clf = fit(MultiTaskDiagnosisClassifier, data, weights=weights, head_warmup_epochs=2)
    before = clf.predict_proba(X)
    attrs = (clf.head_warmup_epochs_, clf.freeze_bn_, clf.best_epoch_)
    clf.set_params(head_warmup_epochs=3)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    from skiaa.estimators._base import BaseImageEstimator

    monkeypatch.setattr(BaseImageEstimator, "_warm_up_heads", interrupted)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    monkeypatch.undo()
    np.testing.assert_array_equal(clf.predict_proba(X), before)
    assert (clf.head_warmup_epochs_, clf.freeze_bn_, clf.best_epoch_) == attrs
    # A rerun gives the uninterrupted run's numbers.
    rerun = fit(MultiTaskDiagnosisClassifier, data, weights=weights, head_warmup_epochs=3)
    again = fit(MultiTaskDiagnosisClassifier, data, weights=weights, head_warmup_epochs=3)
    np.testing.assert_array_equal(rerun.predict_proba(X), again.predict_proba(X))
    np.testing.assert_array_equal(clf.fit(X, y).predict_proba(X), rerun.predict_proba(X))


# ----- BatchNorm statistics recomputed on unaugmented training rows ("precise BN")


def test_recalibrate_batchnorm_averages_the_statistics_of_the_rows_batches():
    from skiaa.datasets import ImageDataset
    from skiaa.estimators._base import recalibrate_batchnorm
    from skiaa.estimators._transforms import ImageModel, ImagePreprocess

    torch.manual_seed(0)
    backbone = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    head = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 5))
    head_bn = torch.nn.BatchNorm1d(5)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone, self.head, self.bn = backbone, head, head_bn

        def forward(self, x):
            return self.bn(self.head(self.backbone(x)))

    pre = ImagePreprocess(None, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), augment=True)
    module = ImageModel(pre, Net(), freeze_bn=True).train()
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(11, 8, 8, 3), dtype=np.uint8)
    dataset = ImageDataset(X, np.zeros(11, dtype=np.float32))
    frozen_before = backbone[1].running_mean.clone()
    rows = [0, 2, 3, 5, 6, 7, 9]  # 7 rows in batches of 3: the 1-row rest joins a batch
    recalibrate_batchnorm(module, dataset, rows, 3, "cpu")
    # What the heads' BatchNorm sees for those rows, without augmentation:
    module.eval()
    with torch.no_grad():
        x = torch.from_numpy(X[rows]).permute(0, 3, 1, 2)
        hidden = head(backbone(pre(x)))
    # torch's cumulative average (momentum=None, as swa_utils.update_bn): the mean
    # over the batches [0, 2, 3] and [5, 6, 7, 9] of each batch's statistics.
    batches = (hidden[:3], hidden[3:])
    mean = torch.stack([b.mean(0) for b in batches]).mean(0)
    var = torch.stack([b.var(0, unbiased=True) for b in batches]).mean(0)
    torch.testing.assert_close(head_bn.running_mean, mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(head_bn.running_var, var, rtol=1e-4, atol=1e-6)
    assert head_bn.momentum == 0.1 and head_bn.num_batches_tracked == 2
    torch.testing.assert_close(backbone[1].running_mean, frozen_before, rtol=0, atol=0)
    module.train()
    assert module.training and head_bn.training and not backbone[1].training


@pytest.mark.parametrize(
    "augment, freeze_bn, recalibrated",
    [(True, True, True), (False, True, False), (True, False, False)],
)
def test_fit_recalibrates_the_heads_batchnorm_when_augmenting_with_frozen_bn(
    data, augment, freeze_bn, recalibrated
):
    # After fit, the IAA head's BatchNorm holds the statistics of the unaugmented
    # training rows (with augmentation: recomputed; without: nothing to fix; with
    # the backbone's statistics trained, as in the paper: left as they were).
    X, _, iaa = data
    reg = fit(IAARegressor, data, augment=augment, max_epochs=2, freeze_bn=freeze_bn)
    module = reg.net_.module_.eval()
    with torch.no_grad():
        x = torch.from_numpy(X).permute(0, 3, 1, 2)
        hidden = module.net.head[0](module.net.backbone(module.preprocess(x)).flatten(1))
    bn = module.net.head[1]
    exact = torch.allclose(bn.running_mean, hidden.mean(0), rtol=1e-4, atol=1e-5)
    assert exact is recalibrated


@pytest.mark.parametrize(
    "params, name",
    [
        ({"head_warmup_epochs": -1}, "head_warmup_epochs"),
        ({"head_warmup_epochs": "some"}, "head_warmup_epochs"),
        ({"head_warmup_epochs": 1.5}, "head_warmup_epochs"),
        ({"freeze_bn": "yes"}, "freeze_bn"),
    ],
)
@pytest.mark.parametrize("cls", [IAARegressor, MultiTaskDiagnosisClassifier])
def test_bad_fine_tuning_options_are_refused_before_any_work(cls, data, params, name):
    from sklearn.utils._param_validation import InvalidParameterError

    est = cls(model="test_resnet", image_size=32, **params)
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter of {cls.__name__}"):
        est.fit(*data[:2]) if cls is MultiTaskDiagnosisClassifier else est.fit(data[0], data[2])
    assert not hasattr(est, "net_")
