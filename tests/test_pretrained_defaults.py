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
    params = dict(
        model="test_resnet",
        image_size=32,
        max_epochs=1,
        batch_size=6,
        augment_passes=1,
        validation_fraction=None,
        random_state=0,
        **params,
    )
    if cls is IAARegressor:
        return cls(**params).fit(X, iaa)
    return cls(alpha=1.0, **params).fit(X, y)


@pytest.mark.parametrize("cls", [IAARegressor, MultiTaskDiagnosisClassifier])
def test_from_scratch_is_the_papers_recipe(cls, data):
    est = fit(cls, data)
    assert est.net_.optimizer is torch.optim.SGD
    assert est.lr_ == 0.01
    assert (est.mean_, est.std_) == (IMA_MEAN, IMA_STD)


@pytest.mark.parametrize("cls", [IAARegressor, MultiTaskDiagnosisClassifier])
def test_pretrained_weights_get_adamw_a_small_lr_and_their_own_statistics(cls, data, weights):
    est = fit(cls, data, weights=weights)
    assert est.net_.optimizer is torch.optim.AdamW
    assert est.lr_ == 3e-4
    assert (est.mean_, est.std_) == WEIGHTS_STATS
    preprocess = est.net_.module_.preprocess
    np.testing.assert_allclose(preprocess.mean.flatten().numpy(), WEIGHTS_STATS[0], rtol=1e-6)
    # The optimizer really ran at that learning rate.
    assert est.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(3e-4)


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
    assert est.net_.optimizer is torch.optim.AdamW and est.lr_ == 0.05
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
