"""Dataset readers, each tested on small files written here in the real on-disk format."""
from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import need
from PIL import Image

from projhead_worker.common.config import DataConfig
from projhead_worker.training import data
from projhead_worker.training.data import DatasetError, dataset_status, load_dataset, shapes, subset_indices

FMNIST = Path("/usr/share/datasets/fashion-mnist")


def _rng(seed=0):
    return np.random.default_rng(seed)


# -- IDX (mnist, fashion-mnist) -----------------------------------------------------------------

def _idx_bytes(arr: np.ndarray, magic: int) -> bytes:
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in arr.shape) + arr.astype(np.uint8).tobytes()


def _write_idx(folder: Path, n_train=20, n_test=10, gz=True, side=28, spelled="-idx"):
    folder.mkdir(parents=True, exist_ok=True)
    r = _rng()
    arrays = {
        "train-images-idx3-ubyte": (r.integers(0, 256, (n_train, side, side)), 0x803),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10, 0x801),
        "t10k-images-idx3-ubyte": (r.integers(0, 256, (n_test, side, side)), 0x803),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10, 0x801),
    }
    for stem, (arr, magic) in arrays.items():
        raw = _idx_bytes(arr, magic)
        name = stem.replace("-idx", spelled)
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return {k: v[0] for k, v in arrays.items()}


@pytest.mark.parametrize("gz", [True, False])
def test_idx_loads_gz_and_raw(tmp_path, gz):
    arrays = _write_idx(tmp_path, gz=gz)
    ds = load_dataset(DataConfig(name="mnist", root=str(tmp_path)), 0)
    assert ds.name == "mnist" and ds.num_classes == 10
    assert ds.train_x.shape == (20, 1, 28, 28) and ds.train_x.dtype == torch.uint8
    assert ds.test_x.shape == (10, 1, 28, 28) and ds.test_y.dtype == torch.int64
    assert torch.equal(ds.train_x[:, 0], torch.from_numpy(arrays["train-images-idx3-ubyte"].astype(np.uint8)))
    assert ds.train_y.tolist() == arrays["train-labels-idx1-ubyte"].tolist()


def test_idx_torchvision_layout_and_dot_spelling(tmp_path):
    _write_idx(tmp_path / "raw", gz=False, spelled=".idx")
    ds = load_dataset(DataConfig(name="fashion-mnist", root=str(tmp_path)), 0)
    assert len(ds.train_y) == 20 and ds.class_names[0] == "T-shirt/top"


def test_idx_wrong_magic_names_file(tmp_path):
    _write_idx(tmp_path, gz=True)
    bad = tmp_path / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(gzip.compress(_idx_bytes(np.zeros(20), 0x803)))
    with pytest.raises(DatasetError) as e:
        load_dataset(DataConfig(name="mnist", root=str(tmp_path)), 0)
    assert str(bad) in str(e.value) and "magic" in str(e.value) and "0x00000801" in str(e.value)


def test_idx_truncated(tmp_path):
    _write_idx(tmp_path, gz=False)
    f = tmp_path / "t10k-images-idx3-ubyte"
    f.write_bytes(f.read_bytes()[:-5])
    with pytest.raises(DatasetError) as e:
        load_dataset(DataConfig(name="mnist", root=str(tmp_path)), 0)
    assert str(f) in str(e.value) and "IDX" in str(e.value)


def test_idx_truncated_gzip(tmp_path):
    _write_idx(tmp_path, gz=True)
    f = tmp_path / "train-images-idx3-ubyte.gz"
    f.write_bytes(f.read_bytes()[:-40])
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte.gz"):
        load_dataset(DataConfig(name="mnist", root=str(tmp_path)), 0)


def test_idx_label_count_mismatch(tmp_path):
    _write_idx(tmp_path, gz=False)
    f = tmp_path / "train-labels-idx1-ubyte"
    f.write_bytes(_idx_bytes(np.zeros(19), 0x801))
    with pytest.raises(DatasetError) as e:
        load_dataset(DataConfig(name="mnist", root=str(tmp_path)), 0)
    assert str(f) in str(e.value) and "19 labels" in str(e.value)


def test_idx_missing_file_and_folder(tmp_path):
    _write_idx(tmp_path, gz=True)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte"):
        load_dataset(DataConfig(name="mnist", root=str(tmp_path)), 0)
    with pytest.raises(DatasetError, match=str(tmp_path / "nope")):
        load_dataset(DataConfig(name="mnist", root=str(tmp_path / "nope")), 0)


def test_env_root_fallback_and_status(tmp_path, monkeypatch):
    _write_idx(tmp_path / "envroot" / "mnist")
    monkeypatch.setattr(data, "DEFAULT_ROOT_BASE", str(tmp_path / "absent"))
    monkeypatch.delenv(data.ENV_ROOT, raising=False)
    ok, root, detail = dataset_status("mnist")
    assert not ok and root == str(tmp_path / "absent" / "mnist") and "missing" in detail
    monkeypatch.setenv(data.ENV_ROOT, str(tmp_path / "envroot"))
    ok, root, detail = dataset_status("mnist")
    assert ok and root == str(tmp_path / "envroot" / "mnist")
    assert len(load_dataset(DataConfig(name="mnist"), 0).train_y) == 20


def test_status_shapes_and_unknown():
    assert dataset_status("shapes")[0] is True
    with pytest.raises(DatasetError, match="unknown dataset"):
        dataset_status("imagenet")


@need((FMNIST / "train-images-idx3-ubyte.gz").is_file(), str(FMNIST), "apt-get install dataset-fashion-mnist")
def test_real_fashion_mnist():
    assert dataset_status("fashion-mnist")[0]
    ds = load_dataset(DataConfig(name="fashion-mnist"), 0)
    assert ds.train_x.shape == (60000, 1, 28, 28) and ds.test_x.shape == (10000, 1, 28, 28)
    assert torch.bincount(ds.train_y).tolist() == [6000] * 10
    assert torch.bincount(ds.test_y).tolist() == [1000] * 10


# -- CIFAR ---------------------------------------------------------------------------------------

def _cifar_batch(n, label_key, num_classes, seed):
    r = _rng(seed)
    return {b"batch_label": b"x", b"data": r.integers(0, 256, (n, 3072), dtype=np.uint8),
            label_key.encode(): [int(v) for v in r.integers(0, num_classes, n)], b"filenames": [b"a.png"] * n}


def _dump(path: Path, obj, protocol=2):
    path.write_bytes(pickle.dumps(obj, protocol=protocol))


def _write_cifar10(folder: Path, n=4, protocol=2):
    folder.mkdir(parents=True)
    batches = {}
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        batches[name] = _cifar_batch(n, "labels", 10, i)
        _dump(folder / name, batches[name], protocol)
    _dump(folder / "batches.meta", {b"label_names": [f"c{i}".encode() for i in range(10)], b"num_vis": 3072}, protocol)
    return batches


@pytest.mark.parametrize("protocol", [2, 5])
def test_cifar10_parent_root(tmp_path, protocol):
    b = _write_cifar10(tmp_path / "cifar-10-batches-py", protocol=protocol)
    ds = load_dataset(DataConfig(name="cifar10", root=str(tmp_path)), 0)
    assert ds.train_x.shape == (20, 3, 32, 32) and ds.test_x.shape == (4, 3, 32, 32)
    row = b["data_batch_2"][b"data"][1]
    # Rows are the R, G and B planes, each 32x32 row-major.
    assert torch.equal(ds.train_x[5], torch.from_numpy(row.reshape(3, 32, 32)))
    assert ds.train_y[5].item() == b["data_batch_2"][b"labels"][1]
    assert ds.class_names == [f"c{i}" for i in range(10)]


def test_cifar10_folder_root_and_missing(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar10(folder)
    assert len(load_dataset(DataConfig(name="cifar10", root=str(folder)), 0).train_y) == 20
    assert dataset_status("cifar10", str(folder))[0]
    (folder / "data_batch_3").unlink()
    ok, _, detail = dataset_status("cifar10", str(tmp_path))
    assert not ok and "data_batch_3" in detail
    with pytest.raises(DatasetError, match=str(folder / "data_batch_3")):
        load_dataset(DataConfig(name="cifar10", root=str(tmp_path)), 0)


def test_cifar100(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    train, test = _cifar_batch(6, "fine_labels", 100, 0), _cifar_batch(3, "fine_labels", 100, 1)
    train[b"coarse_labels"] = [0] * 6
    _dump(folder / "train", train)
    _dump(folder / "test", test)
    _dump(folder / "meta", {b"fine_label_names": [f"f{i}".encode() for i in range(100)], b"coarse_label_names": []})
    ds = load_dataset(DataConfig(name="cifar100", root=str(tmp_path)), 0)
    assert ds.num_classes == 100 and ds.train_y.tolist() == train[b"fine_labels"]
    assert ds.test_x.shape == (3, 3, 32, 32) and ds.class_names[99] == "f99"


class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (self.target,))


def test_cifar_pickle_is_restricted(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar10(folder)
    marker = tmp_path / "pwned"
    _dump(folder / "data_batch_1", {b"data": _Evil(str(marker)), b"labels": []})
    with pytest.raises(DatasetError, match="refused global") as e:
        load_dataset(DataConfig(name="cifar10", root=str(folder)), 0)
    assert not marker.exists() and str(folder / "data_batch_1") in str(e.value)
    _dump(folder / "data_batch_1", {b"data": np.array([None, 1], dtype=object), b"labels": [0]})
    with pytest.raises(DatasetError, match="data_batch_1"):
        load_dataset(DataConfig(name="cifar10", root=str(folder)), 0)


def test_cifar_bad_batch(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar10(folder)
    _dump(folder / "test_batch", {b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 2, 3]})
    with pytest.raises(DatasetError, match="2 images but 3 labels"):
        load_dataset(DataConfig(name="cifar10", root=str(folder)), 0)
    (folder / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(DatasetError, match="test_batch"):
        load_dataset(DataConfig(name="cifar10", root=str(folder)), 0)


# -- STL-10 --------------------------------------------------------------------------------------

def _write_stl(folder: Path, n_train=3, n_test=2):
    folder.mkdir(parents=True)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = _rng(n).integers(0, 256, (n, 3, 96, 96), dtype=np.uint8)  # [N, C, H, W]
        y = (np.arange(n) % 10 + 1).astype(np.uint8)
        # Column-major per channel: x varies slowest within a plane.
        (folder / f"{split}_X.bin").write_bytes(np.ascontiguousarray(x.transpose(0, 1, 3, 2)).tobytes())
        (folder / f"{split}_y.bin").write_bytes(y.tobytes())
        out[split] = (x, y)
    return out


def test_stl10(tmp_path):
    arrays = _write_stl(tmp_path / "stl10_binary")
    ds = load_dataset(DataConfig(name="stl10", root=str(tmp_path)), 0)
    assert ds.train_x.shape == (3, 3, 96, 96) and ds.test_x.shape == (2, 3, 96, 96)
    assert torch.equal(ds.train_x, torch.from_numpy(arrays["train"][0]))
    assert ds.train_y.tolist() == [0, 1, 2] and ds.class_names[0] == "airplane"


def test_stl10_errors(tmp_path):
    folder = tmp_path / "stl10_binary"
    _write_stl(folder)
    (folder / "test_y.bin").write_bytes(bytes([1, 2, 3]))
    with pytest.raises(DatasetError) as e:
        load_dataset(DataConfig(name="stl10", root=str(folder)), 0)
    assert str(folder / "test_y.bin") in str(e.value) and "3 labels" in str(e.value)
    (folder / "test_X.bin").write_bytes(b"\0" * 1000)
    with pytest.raises(DatasetError, match="not a multiple of 27648"):
        load_dataset(DataConfig(name="stl10", root=str(folder)), 0)


# -- image folder --------------------------------------------------------------------------------

def _png(path: Path, h, w, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.zeros((h, w, 3), dtype=np.uint8)
    img[..., 0] = value
    Image.fromarray(img).save(path)


def test_imagefolder_train_test(tmp_path):
    for split, n in (("train", 3), ("test", 1)):
        for c, v in (("cat", 10), ("dog", 200)):
            for i in range(n):
                _png(tmp_path / split / c / f"{i}.png", 40, 50 + i, v)
    (tmp_path / "train" / "dog" / "notes.txt").write_text("ignored")
    ds = load_dataset(DataConfig(name="imagefolder", root=str(tmp_path), image_size=16), 0)
    assert ds.class_names == ["cat", "dog"] and ds.num_classes == 2
    assert ds.train_x.shape == (6, 3, 16, 16) and ds.test_x.shape == (2, 3, 16, 16)
    assert ds.train_y.tolist() == [0, 0, 0, 1, 1, 1]
    assert ds.train_x[ds.train_y == 1][:, 0].eq(200).all() and ds.train_x[:, 1:].eq(0).all()


def test_imagefolder_holdout_and_default_size(tmp_path):
    for c in ("a", "b"):
        for i in range(10):
            _png(tmp_path / "train" / c / f"{i}.png", 8, 8, i)
    assert dataset_status("imagefolder", str(tmp_path))[0]
    assert not dataset_status("imagefolder", str(tmp_path / "train" / "a"))[0]
    ds = load_dataset(DataConfig(name="imagefolder", root=str(tmp_path)), 0)
    assert ds.train_x.shape == (18, 3, 64, 64) and ds.test_y.tolist() == [0, 1]
    again = load_dataset(DataConfig(name="imagefolder", root=str(tmp_path)), 7)
    assert torch.equal(ds.test_x, again.test_x)  # the hold-out does not depend on the run seed


def test_imagefolder_errors(tmp_path):
    with pytest.raises(DatasetError, match="no class folders"):
        (tmp_path / "train").mkdir()
        load_dataset(DataConfig(name="imagefolder", root=str(tmp_path)), 0)
    _png(tmp_path / "train" / "a" / "0.png", 8, 8, 1)
    bad = tmp_path / "train" / "a" / "1.png"
    bad.write_bytes(b"\x89PNG garbage")
    with pytest.raises(DatasetError, match="1.png"):
        load_dataset(DataConfig(name="imagefolder", root=str(tmp_path)), 0)


# -- limits and shapes ---------------------------------------------------------------------------

def test_subset_indices_stratified_deterministic():
    y = torch.tensor([0] * 60 + [1] * 30 + [2] * 10)
    a = subset_indices(y, 20, seed=3, stream=1)
    assert torch.equal(a, subset_indices(y, 20, seed=3, stream=1))
    assert not torch.equal(a, subset_indices(y, 20, seed=4, stream=1))
    assert torch.bincount(y[a]).tolist() == [12, 6, 2]
    assert torch.equal(a, a.sort().values) and len(a.unique()) == 20


def test_limits_and_shapes_determinism():
    cfg = DataConfig(name="shapes", synthetic_size=500, train_limit=100, test_limit=30)
    ds = load_dataset(cfg, 1)
    assert ds.train_x.shape == (100, 3, 32, 32) and ds.test_x.shape == (30, 3, 32, 32)
    assert torch.bincount(ds.train_y, minlength=10).tolist() == [10] * 10
    again = load_dataset(cfg, 1)
    assert torch.equal(ds.train_x, again.train_x) and torch.equal(ds.test_y, again.test_y)
    full = load_dataset(DataConfig(name="shapes", synthetic_size=500), 1)
    assert full.train_x.shape[0] == 500 and full.test_x.shape[0] == 100
    assert torch.bincount(full.train_y).tolist() == [50] * 10
    assert not torch.equal(full.train_x[:100], full.test_x)  # separate seed streams


def test_shapes_generate():
    x, y = shapes.generate(40, 24, seed=5)
    assert x.shape == (40, 3, 24, 24) and x.dtype == torch.uint8 and y.dtype == torch.int64
    x2, y2 = shapes.generate(40, 24, seed=5)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(x, shapes.generate(40, 24, seed=6)[0])
    assert x.float().std() > 20  # real content, not a blank
    assert len(shapes.CLASS_NAMES) == shapes.NUM_CLASSES == 10


def test_shapes_default_size_and_image_size():
    ds = load_dataset(DataConfig(name="shapes", image_size=16, synthetic_size=50), 0)
    assert ds.train_x.shape == (50, 3, 16, 16) and ds.test_x.shape == (10, 3, 16, 16)
    assert ds.class_names == shapes.CLASS_NAMES
