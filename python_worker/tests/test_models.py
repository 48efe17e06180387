"""Backbone output shapes, torchvision state-dict keys, head structure and layer_features."""
import pytest
import torch
import torch.nn as nn
import torchvision

from projhead_worker.common.config import HeadConfig, ModelConfig, SpecError
from projhead_worker.training.models import ContrastiveModel, ProjectionHead, build_backbone, build_model


@pytest.mark.parametrize("size,cifar_stem,in_ch", [(28, True, 3), (32, True, 3), (96, False, 3), (28, True, 1)])
def test_convnet_shapes(size, cifar_stem, in_ch):
    torch.manual_seed(0)
    net, feat_dim = build_backbone("convnet", cifar_stem=cifar_stem, width=4, in_channels=in_ch)
    assert feat_dim == 32
    assert net(torch.randn(2, in_ch, size, size)).shape == (2, 32)


@pytest.mark.parametrize("name,dim", [("resnet18", 512), ("resnet50", 2048)])
def test_resnet_cifar_stem(name, dim):
    torch.manual_seed(0)
    net, feat_dim = build_backbone(name, cifar_stem=True, width=32)
    assert feat_dim == dim
    assert net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1) and net.conv1.bias is None
    assert isinstance(net.maxpool, nn.Identity) and isinstance(net.fc, nn.Identity)
    net.eval()
    with torch.no_grad():
        assert net(torch.randn(2, 3, 32, 32)).shape == (2, dim)
    # Export relies on torchvision's key names (fc has no parameters any more).
    with torch.device("meta"):  # keys and shapes only: skip the slow random init
        tv = getattr(torchvision.models, name)(weights=None).state_dict()
    expected = {k for k in tv if not k.startswith("fc.")}
    assert set(net.state_dict()) == expected
    for k, v in net.state_dict().items():
        assert v.shape == tv[k].shape or k == "conv1.weight"


def test_resnet18_imagenet_stem():
    net, feat_dim = build_backbone("resnet18", cifar_stem=False, width=32)
    assert net.conv1.kernel_size == (7, 7) and isinstance(net.maxpool, nn.MaxPool2d)
    net.eval()
    with torch.no_grad():
        assert net(torch.randn(1, 3, 64, 64)).shape == (1, 512)


def test_unknown_backbone():
    with pytest.raises(SpecError):
        build_backbone("vit", cifar_stem=True, width=8)


@pytest.mark.parametrize("hidden", [[], [16], [16, 12], [16, 12, 10]])
def test_layer_features_order_and_shapes(hidden):
    torch.manual_seed(0)
    model = build_model(ModelConfig(backbone="convnet", width=4, head=HeadConfig(hidden_dims=hidden, out_dim=6)))
    assert isinstance(model, ContrastiveModel) and model.feat_dim == 32
    assert len(model.head.blocks) == len(hidden) + 1
    model.eval()
    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        feats = model.layer_features(x)
        h, z = model(x)
    names = ["h"] + [f"head.{i}" for i in range(1, len(hidden) + 1)] + ["z"]
    assert list(feats) == names
    assert [f.shape[1] for f in feats.values()] == [32, *hidden, 6]
    assert torch.equal(feats["h"], h) and torch.equal(feats["z"], z)


def test_head_structure_options():
    head = ProjectionHead(8, HeadConfig(hidden_dims=[16], out_dim=4, batch_norm=False, activation="gelu", last_batch_norm=True))
    hidden, last = head.blocks
    assert [type(m) for m in hidden] == [nn.Linear, nn.GELU] and hidden[0].bias is not None
    assert [type(m) for m in last] == [nn.Linear, nn.BatchNorm1d] and not last[1].affine and last[0].bias is None
    head = ProjectionHead(8, HeadConfig(hidden_dims=[16], out_dim=4, batch_norm=True, activation="identity"))
    assert [type(m) for m in head.blocks[0]] == [nn.Linear, nn.BatchNorm1d, nn.Identity]
    single = ProjectionHead(8, HeadConfig(hidden_dims=[], out_dim=4))
    assert len(single.blocks) == 1 and single(torch.randn(2, 8)).shape == (2, 4)


def test_head_reset_parameters():
    torch.manual_seed(0)
    head = ProjectionHead(8, HeadConfig(hidden_dims=[16], out_dim=4))
    head.train()
    head(torch.randn(5, 8) * 3 + 1)  # moves the BatchNorm running statistics
    w = head.blocks[0][0].weight.clone()
    head.reset_parameters()
    assert not torch.equal(w, head.blocks[0][0].weight)
    bn = head.blocks[0][1]
    assert torch.equal(bn.running_mean, torch.zeros(16)) and torch.equal(bn.running_var, torch.ones(16))
