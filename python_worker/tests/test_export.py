"""Backbone export: a checkpoint's backbone loads into plain torchvision with the README snippet."""
from __future__ import annotations

import os

import pytest
import safetensors.torch
import torch
import torch.nn as nn
import torchvision

from projhead_worker.common.config import RunConfig
from projhead_worker.training.export import FORMAT, export_backbone, export_backbone_bytes
from projhead_worker.training.models import build_model


@pytest.fixture(autouse=True)
def _one_thread():
    # Small convolutions: one thread avoids oversubscribed OpenMP pools on a busy 2-core machine.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _checkpoint(tmp_path, backbone="resnet18", cifar_stem=True, extra=None):
    cfg = RunConfig.from_dict({"model": {"backbone": backbone, "cifar_stem": cifar_stem, "width": 4}})
    torch.manual_seed(0)
    model = build_model(cfg.model)
    # Non-trivial BatchNorm statistics, so that a missing buffer would change the outputs.
    model.train()
    with torch.no_grad():
        model.backbone(torch.randn(4, 3, 32, 32))
    model.eval()
    path = tmp_path / "last.pt"
    # The shape of checkpoint.save's content: spec, model and the rest of the training state.
    torch.save({"format": "projhead.ckpt.v1", "spec": cfg.to_dict(), "model": model.state_dict(),
                "optimizer": {"state": {}, "param_groups": []}, "rng": {"torch": torch.get_rng_state()},
                "progress": {"step": 3}, **(extra or {})}, path)
    return model, path


@pytest.mark.parametrize("cifar_stem", [True, False])
def test_resnet18_export_loads_into_torchvision(tmp_path, cifar_stem):
    model, ckpt = _checkpoint(tmp_path, cifar_stem=cifar_stem)
    out = tmp_path / "export" / "backbone.safetensors"
    info = export_backbone(ckpt, out)
    assert info == {"architecture": "resnet18", "cifar_stem": cifar_stem, "feat_dim": 512, "bytes": out.stat().st_size}
    assert not [p for p in os.listdir(out.parent) if p != out.name]  # no temporary left behind

    with open(out, "rb") as f:
        meta = safetensors.safe_open(f.name, "pt").metadata()
    assert meta["architecture"] == "resnet18"
    assert meta["cifar_stem"] == ("true" if cifar_stem else "false")
    assert meta["format"] == FORMAT

    # The README snippet, verbatim in substance, with strict loading.
    m = torchvision.models.resnet18()
    m.fc = torch.nn.Identity()
    if meta["cifar_stem"] == "true":
        m.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        m.maxpool = nn.Identity()
    m.load_state_dict(safetensors.torch.load_file(str(out)), strict=True)
    m.eval()

    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(m(x), model.backbone(x))


def test_export_bytes_match_file_and_drop_head(tmp_path):
    model, ckpt = _checkpoint(tmp_path)
    data, meta = export_backbone_bytes(ckpt)
    assert meta["architecture"] == "resnet18" and meta["format"] == FORMAT
    tensors = safetensors.torch.load(data)
    assert set(tensors) == set(model.backbone.state_dict())
    assert not any(k.startswith(("head.", "backbone.")) for k in tensors)
    export_backbone(ckpt, tmp_path / "b.safetensors")
    # Same content (not necessarily the same bytes: safetensors writes metadata in hash order).
    from_file = safetensors.torch.load_file(str(tmp_path / "b.safetensors"))
    assert set(from_file) == set(tensors) and all(torch.equal(from_file[k], tensors[k]) for k in tensors)


def test_convnet_export_records_width(tmp_path):
    model, ckpt = _checkpoint(tmp_path, backbone="convnet")
    info = export_backbone(ckpt, tmp_path / "c.safetensors")
    assert info["architecture"] == "convnet" and info["feat_dim"] == 32
    _, meta = export_backbone_bytes(ckpt)
    assert meta["width"] == "4"


def test_rejects_non_checkpoints_and_unsafe_pickles(tmp_path):
    p = tmp_path / "x.pt"
    torch.save({"model": {}}, p)
    with pytest.raises(ValueError, match="not a projhead checkpoint"):
        export_backbone(p, tmp_path / "o.safetensors")

    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    _, good = _checkpoint(tmp_path)
    ckpt = torch.load(good, weights_only=True)
    ckpt["evil"] = Evil()
    torch.save(ckpt, p)
    with pytest.raises(ValueError, match="not a projhead checkpoint .*could run code"):
        export_backbone(p, tmp_path / "o.safetensors")
    assert not (tmp_path / "o.safetensors").exists()


def test_rejects_backbone_that_does_not_match_its_spec(tmp_path):
    _, ckpt_path = _checkpoint(tmp_path)
    ckpt = torch.load(ckpt_path, weights_only=True)
    del ckpt["model"]["backbone.conv1.weight"]
    torch.save(ckpt, ckpt_path)
    with pytest.raises(ValueError, match="do not fit"):
        export_backbone_bytes(ckpt_path)


def test_old_serialisation_format_still_loads(tmp_path):
    model, ckpt_path = _checkpoint(tmp_path, backbone="convnet")
    ckpt = torch.load(ckpt_path, weights_only=True)
    torch.save(ckpt, ckpt_path, _use_new_zipfile_serialization=False)  # cannot be mmap'ed
    data, _ = export_backbone_bytes(ckpt_path)
    tensors = safetensors.torch.load(data)
    assert torch.equal(tensors["stages.0.0.weight"], model.backbone.stages[0][0].weight)
