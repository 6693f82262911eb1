"""The paper's 13 torchvision backbones as timm models with torchvision's features.

The authors train torchvision's ImageNet models with the classifier replaced by an
identity (sfu-mial/skin-IAV, ``networks.py``). skiaa builds every backbone with
timm; for each of the 13 a *paper name* (``"tv_" + torchvision's name``) selects the
timm architecture whose layers and feature width match torchvision's, adapted where
the two libraries pool differently, and loads torchvision's checkpoints into it:

- VGG16-BN: convolutional features and a global average pool, 512-d (timm's VGG
  adds a 4096-d convolutional MLP, which is removed);
- MobileNetV3-L: the pooled 960-d features (timm adds the 960->1280 head
  convolution that torchvision keeps in its classifier; removed), BatchNorm with
  torchvision's eps 1e-3 and momentum 0.01;
- ConvNeXt-T: pooled features *without* the final LayerNorm (torchvision keeps it
  in the classifier that the authors replaced);
- Swin-V2-T at 256 px (window 8), the others at 224 px.

Loading a torchvision checkpoint: where timm uses torchvision's names (ResNets,
DenseNet, VGG) by name; where the tensors correspond one to one in order
(MobileNets, EfficientNets) by position, refusing any shape mismatch; where the
layout differs (ConvNeXt, Swin, ViT) by an explicit renaming. Every one of them is
tested to give torchvision's features on the same input.
"""

import dataclasses
import re

from torch import nn

__all__ = ["PAPER_BACKBONES", "PAPER_DEFAULT_BACKBONES", "TorchvisionBackbone"]


def _rename(rules):
    """A converter applying ``(pattern, replacement)`` rules; unmatched keys are kept."""
    compiled = [(re.compile(p), r) for p, r in rules]

    def convert(state):
        out = {}
        for key, value in state.items():
            for pattern, repl in compiled:
                new, n = pattern.subn(repl, key)
                if n:
                    key = new
                    break
            out[key] = value
        return out

    return convert


def _convnext(state):
    # torchvision: features.0 stem, odd features.{1,3,5,7} stages of CNBlocks, even
    # features.{2,4,6} downsampling; layer_scale has shape (C, 1, 1), timm's gamma (C,).
    out = {}
    for key, value in state.items():
        m = re.fullmatch(r"features\.0\.(\d)\.(\w+)", key)
        if m:
            out[f"stem.{m[1]}.{m[2]}"] = value
            continue
        m = re.fullmatch(r"features\.(\d)\.(\d+)\.(.+)", key)
        if m and int(m[1]) % 2 == 1:
            stage, block, rest = (int(m[1]) - 1) // 2, m[2], m[3]
            prefix = f"stages.{stage}.blocks.{block}."
            if rest == "layer_scale":
                out[prefix + "gamma"] = value.reshape(-1)
                continue
            sub = {"block.0": "conv_dw", "block.2": "norm", "block.3": "mlp.fc1",
                   "block.5": "mlp.fc2"}  # fmt: skip
            layer, _, param = rest.rpartition(".")
            if layer in sub:
                out[prefix + f"{sub[layer]}.{param}"] = value
                continue
        m = re.fullmatch(r"features\.(\d)\.(\d)\.(\w+)", key)
        if m and int(m[1]) % 2 == 0:
            out[f"stages.{int(m[1]) // 2}.downsample.{m[2]}.{m[3]}"] = value
            continue
        out[key] = value
    return out


def _swin(state):
    # torchvision: features.0 patch embedding (conv, permute, LayerNorm), odd
    # features.{1,3,5,7} stages, even features.{2,4,6} patch merging; timm puts the
    # merging at the start of the next stage. Index buffers are rebuilt by timm.
    out = {}
    for key, value in state.items():
        if key.endswith(("relative_position_index", "relative_coords_table")):
            continue
        m = re.fullmatch(r"features\.0\.(\d)\.(\w+)", key)
        if m:
            out[f"patch_embed.{'proj' if m[1] == '0' else 'norm'}.{m[2]}"] = value
            continue
        m = re.fullmatch(r"features\.(\d)\.(\d+)\.(.+)", key)
        if m and int(m[1]) % 2 == 1:
            rest = re.sub(r"^mlp\.0\.", "mlp.fc1.", re.sub(r"^mlp\.3\.", "mlp.fc2.", m[3]))
            prefix = f"layers.{(int(m[1]) - 1) // 2}.blocks.{m[2]}."
            if rest == "attn.qkv.bias" and f"features.{m[1]}.{m[2]}.attn.logit_scale" in state:
                # Swin V2: one qkv bias whose key third torchvision zeroes in forward;
                # timm keeps the query and value biases only.
                c = value.shape[0] // 3
                out[prefix + "attn.q_bias"] = value[:c]
                out[prefix + "attn.v_bias"] = value[2 * c :]
                continue
            out[prefix + rest] = value
            continue
        m = re.fullmatch(r"features\.(\d)\.(\w+\.\w+)", key)
        if m and int(m[1]) % 2 == 0:
            out[f"layers.{int(m[1]) // 2}.downsample.{m[2]}"] = value
            continue
        out[key] = value
    return out


_LAYER = r"^encoder\.layers\.encoder_layer_(\d+)\."
_vit = _rename(
    [
        (r"^class_token$", "cls_token"),
        (r"^conv_proj\.", "patch_embed.proj."),
        (r"^encoder\.pos_embedding$", "pos_embed"),
        (r"^encoder\.ln\.", "norm."),
        (_LAYER + r"ln_1\.", r"blocks.\1.norm1."),
        (_LAYER + r"ln_2\.", r"blocks.\1.norm2."),
        (
            _LAYER + r"self_attention\.in_proj_(weight|bias)$",
            r"blocks.\1.attn.qkv.\2",
        ),
        (_LAYER + r"self_attention\.out_proj\.", r"blocks.\1.attn.proj."),
        (_LAYER + r"mlp\.0\.", r"blocks.\1.mlp.fc1."),
        (_LAYER + r"mlp\.3\.", r"blocks.\1.mlp.fc2."),
    ]
)


def _set_width(model, width):
    model.num_features = width
    model.head_hidden_size = width


def _vgg_adapt(model):
    # torchvision's conv features + global average pooling (the authors' AvgPool2d(7)
    # on the 7x7 map at 224 px), not timm's 4096-d convolutional MLP.
    model.pre_logits = nn.Identity()
    _set_width(model, 512)


def _mobilenetv3_adapt(model):
    # The authors take torchvision's pooled 960-d features: timm's head convolution
    # (960 -> 1280, torchvision's first classifier layer) is removed.
    model.conv_head = nn.Identity()
    model.norm_head = nn.Identity()
    model.act2 = nn.Identity()
    _set_width(model, 960)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eps, m.momentum = 1e-3, 0.01


def _convnext_adapt(model):
    # torchvision's final LayerNorm sits in the classifier the authors replaced.
    model.head.norm = nn.Identity()


@dataclasses.dataclass(frozen=True)
class TorchvisionBackbone:
    """How one of the paper's torchvision backbones is built with timm.

    Parameters
    ----------
    name : str
        skiaa's name, ``"tv_" + torchvision``.
    label : str
        The name the paper prints.
    torchvision : str
        torchvision's builder (``torchvision.models.<torchvision>``).
    timm : str
        The timm architecture built.
    features : int
        Width of the pooled features.
    image_size : int
        The input size the authors trained at.
    loading : {"name", "position", "rename"}
        How a torchvision checkpoint is matched to timm's tensors.
    adapt : callable or None
        Changes the timm model in place so that it returns torchvision's features.
    convert : callable or None
        Renames a torchvision state dict to the timm model's names (``"rename"``).
    timm_kwargs : tuple of (str, object) pairs
        Extra arguments of :func:`timm.create_model`: torchvision's stochastic
        depth as timm's ``drop_path_rate`` (the same linear schedule over the
        blocks), 0 where torchvision has none.
    """

    name: str
    label: str
    torchvision: str
    timm: str
    features: int
    image_size: int = 224
    loading: str = "position"
    adapt: object = None
    convert: object = None
    timm_kwargs: tuple = ()

    @property
    def weights(self):
        """torchvision's ImageNet weights the authors loaded (``pretrained=True``).

        torchvision's legacy ``pretrained=True`` means ``IMAGENET1K_V1`` for
        every builder, not the newer ``DEFAULT`` (``IMAGENET1K_V2`` for
        ResNet-50, the MobileNets and EfficientNet-B1).
        """
        from torchvision.models import get_model_weights

        return get_model_weights(self.torchvision).IMAGENET1K_V1

    def build(self, *, in_chans=3, image_size=None, **kwargs):
        """The timm model, adapted to torchvision's features, with random weights.

        Parameters
        ----------
        in_chans : int, default=3
            Input channels.
        image_size : int, default=None
            Input size, when it differs from :attr:`image_size` (Swin, ViT).
        **kwargs
            Passed to :func:`timm.create_model`.

        Returns
        -------
        model : torch.nn.Module
            A ``num_classes=0`` feature extractor of width :attr:`features`.
        """
        import timm

        kwargs = dict(self.timm_kwargs, **kwargs)
        if image_size is not None and image_size != self.image_size:
            if self.timm.startswith("vit_"):
                kwargs.setdefault("dynamic_img_size", True)
            elif self.timm.startswith("swin"):
                kwargs.setdefault("img_size", image_size)
        model = timm.create_model(
            self.timm, pretrained=False, num_classes=0, in_chans=in_chans, **kwargs
        )
        if self.adapt is not None:
            self.adapt(model)
        return model


_SPECS = [
    TorchvisionBackbone("tv_vgg16_bn", "VGG16-BN", "vgg16_bn", "vgg16_bn", 512,
                        loading="name", adapt=_vgg_adapt),
    TorchvisionBackbone("tv_resnet18", "ResNet-18", "resnet18", "resnet18", 512, loading="name"),
    TorchvisionBackbone("tv_resnet50", "ResNet-50", "resnet50", "resnet50", 2048, loading="name"),
    TorchvisionBackbone("tv_densenet121", "DenseNet-121", "densenet121", "densenet121", 1024,
                        loading="name"),
    TorchvisionBackbone("tv_mobilenet_v2", "MobileNetV2", "mobilenet_v2", "mobilenetv2_100",
                        1280),
    TorchvisionBackbone("tv_mobilenet_v3_large", "MobileNetV3-L", "mobilenet_v3_large",
                        "mobilenetv3_large_100", 960, adapt=_mobilenetv3_adapt),
    # torchvision's stochastic_depth_prob defaults: EfficientNet 0.2, ConvNeXt-T 0.1,
    # Swin-T and Swin-V2-T 0.2 (timm's Swin defaults to 0.1, the others to 0).
    TorchvisionBackbone("tv_efficientnet_b0", "EfficientNet-B0", "efficientnet_b0",
                        "efficientnet_b0", 1280, timm_kwargs=(("drop_path_rate", 0.2),)),
    TorchvisionBackbone("tv_efficientnet_b1", "EfficientNet-B1", "efficientnet_b1",
                        "efficientnet_b1", 1280, timm_kwargs=(("drop_path_rate", 0.2),)),
    TorchvisionBackbone("tv_convnext_tiny", "ConvNeXt-T", "convnext_tiny", "convnext_tiny", 768,
                        loading="rename", adapt=_convnext_adapt, convert=_convnext,
                        timm_kwargs=(("drop_path_rate", 0.1),)),
    TorchvisionBackbone("tv_swin_t", "Swin-T", "swin_t", "swin_tiny_patch4_window7_224", 768,
                        loading="rename", convert=_swin, timm_kwargs=(("drop_path_rate", 0.2),)),
    TorchvisionBackbone("tv_swin_v2_t", "Swin-V2-T", "swin_v2_t", "swinv2_tiny_window8_256", 768,
                        image_size=256, loading="rename", convert=_swin,
                        timm_kwargs=(("drop_path_rate", 0.2),)),
    TorchvisionBackbone("tv_vit_b_16", "ViT-B/16", "vit_b_16", "vit_base_patch16_224", 768,
                        loading="rename", convert=_vit),
    TorchvisionBackbone("tv_vit_b_32", "ViT-B/32", "vit_b_32", "vit_base_patch32_224", 768,
                        loading="rename", convert=_vit),
]  # fmt: skip

#: The paper's 13 backbones by skiaa name, in the paper's order.
PAPER_BACKBONES = {spec.name: spec for spec in _SPECS}

#: The paper's best three for predicting the IAA: the paper preset's default.
PAPER_DEFAULT_BACKBONES = ("tv_efficientnet_b1", "tv_mobilenet_v2", "tv_resnet18")
