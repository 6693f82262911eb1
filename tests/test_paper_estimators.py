"""The paper's training options of the estimators: focal form, augmentation, head init,
and the fine-tuning switch to ImageNet statistics under ``warm_start``."""

import numpy as np
import pytest
import torch

from skiaa.estimators import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    IAARegressor,
    MultiTaskDiagnosisClassifier,
)

FAST = dict(model="test_resnet", image_size=16, batch_size=8, augment_passes=1, random_state=0)


def _data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, size=(n, 16, 16, 3), dtype=np.uint8)
    y = np.array(["benign", "malignant"] * (n // 2))
    return X, y, rng.uniform(0.4, 1.0, size=n)


def test_paper_options_reach_the_loss_the_heads_and_the_augmentation():
    X, y, iaa = _data()
    clf = MultiTaskDiagnosisClassifier(
        focal="paper", head_init="kaiming", augment="paper", max_epochs=0,
        validation_fraction=None, **FAST,
    )  # fmt: skip
    clf.fit(X, y, iaa=iaa)
    module = clf.net_.module_
    assert clf.net_.criterion_.focal.variant == "paper"
    assert module.preprocess.augment == "paper"
    # max_epochs=0: the heads are as initialised, Kaiming with zero biases (no IAA offset).
    for head in (module.net.diagnosis_head, module.net.iaa_head):
        assert torch.count_nonzero(head[0].bias) == 0 and torch.count_nonzero(head[-1].bias) == 0
    reg = IAARegressor(head_init="kaiming", max_epochs=0, validation_fraction=None, **FAST)
    assert torch.count_nonzero(reg.fit(X, iaa).net_.module_.net.head[-1].bias) == 0
    # The default keeps skiaa's start at the mean IAA.
    reg = IAARegressor(max_epochs=0, validation_fraction=None, **FAST).fit(X, iaa)
    bias = reg.net_.module_.net.head[-1].bias.item()
    assert bias == pytest.approx(float(np.float32(iaa).mean()), abs=1e-6)


@pytest.mark.parametrize("bad", [{"focal": "focal"}, {"head_init": "xavier"}, {"augment": "x"}])
def test_unknown_paper_options_are_refused(bad):
    X, y, iaa = _data(8)
    with pytest.raises(ValueError, match=next(iter(bad))):
        MultiTaskDiagnosisClassifier(max_epochs=0, **bad, **FAST).fit(X, y, iaa=iaa)


def test_warm_start_fine_tuning_switches_to_imagenet_statistics():
    X, y, iaa = _data()
    clf = MultiTaskDiagnosisClassifier(max_epochs=1, validation_fraction=None, **FAST)
    clf.fit(X, y, iaa=iaa)
    pre = clf.net_.module_.preprocess
    assert torch.allclose(pre.mean.flatten(), torch.tensor([0.7079, 0.5688, 0.5130]))
    clf.set_params(
        warm_start=True, freeze_iaa_head=True, lr=1e-3, max_epochs=0,
        mean=IMAGENET_MEAN, std=IMAGENET_STD, augment="paper",
    )  # fmt: skip
    clf.fit(X[:8], y[:8])
    pre = clf.net_.module_.preprocess
    assert torch.allclose(pre.mean.flatten(), torch.tensor(IMAGENET_MEAN))
    assert torch.allclose(pre.std.flatten(), torch.tensor(IMAGENET_STD))
    assert pre.augment == "paper"
    # Prediction uses the new statistics: the same as normalising by hand.
    x = torch.from_numpy(X[:2]).permute(0, 3, 1, 2)  # uint8 (n, C, H, W), as batches arrive
    manual = x.float() / 255 - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    manual = manual / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    pre.eval()
    torch.testing.assert_close(pre(x), manual)


@pytest.mark.parametrize("cls", [IAARegressor, MultiTaskDiagnosisClassifier])
def test_given_validation_rows_choose_the_best_epoch_and_nothing_else(cls, monkeypatch):
    # The paper's fixed validation part: exactly the marked rows are held out, whatever
    # validation_fraction and random_state say.
    from skiaa.estimators import _base

    X, y, iaa = _data(n=20)
    target = iaa if cls is IAARegressor else y
    validation = np.zeros(20, dtype=bool)
    validation[[1, 4, 6, 13]] = True
    seen = []
    original = _base.BaseImageEstimator._fit_net

    def spy(self, dataset, *, train_idx, valid_idx, **kwargs):
        seen.append((sorted(train_idx), sorted(valid_idx)))
        return original(self, dataset, train_idx=train_idx, valid_idx=valid_idx, **kwargs)

    monkeypatch.setattr(_base.BaseImageEstimator, "_fit_net", spy)
    for seed in (0, 1):
        est = cls(max_epochs=2, validation_fraction=0.5, **{**FAST, "random_state": seed})
        extra = {} if cls is IAARegressor else {"iaa": iaa}
        est.fit(X, target, validation=validation, **extra)
        assert est.best_epoch_ in (1, 2)
    expected = (sorted(np.flatnonzero(~validation)), [1, 4, 6, 13])
    assert seen == [expected, expected]


@pytest.mark.parametrize(
    "validation, match",
    [
        (np.zeros(7, dtype=bool), r"shape \(8,\)"),
        (np.arange(8) % 2, "boolean"),
        (np.ones(8, dtype=bool), "8 of 8 images"),
        (np.zeros(8, dtype=bool), "0 of 8 images"),
    ],
)
def test_bad_validation_masks_are_refused_by_name(validation, match):
    X, _, iaa = _data(n=8)
    reg = IAARegressor(max_epochs=1, **FAST)
    with pytest.raises(ValueError, match=match) as info:
        reg.fit(X, iaa, validation=validation)
    assert "validation" in str(info.value)
    assert not hasattr(reg, "net_")
