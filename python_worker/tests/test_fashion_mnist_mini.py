"""The embedded fashion-mnist-mini dataset: intact, balanced, read by the IDX reader with nothing
installed, and (where the full official files are present) exactly the subset its provenance says."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from conftest import need

from projhead_worker.common.config import DataConfig
from projhead_worker.training import data
from projhead_worker.training.data import dataset_status, idx, load_dataset

MINI = idx.MINI_ROOT
FMNIST = Path("/usr/share/datasets/fashion-mnist")
# Also in SHA256SUMS next to the files; repeated here so a changed file and a changed sum file
# cannot pass together.
DIGESTS = {
    "train-images-idx3-ubyte.gz": "b84abacb8f3aeca3f619f85c125546af7be83c9b87e3b89c45fb274af1553593",
    "train-labels-idx1-ubyte.gz": "cc95b226b14c16ef15a9e7988505a6f9928c3f8a3035c8640bda78b58b8c7ba2",
    "t10k-images-idx3-ubyte.gz": "c7313ff9d681ca94fab63560c24d5e130f0a5f9a8ee35ac2a5a2a826fb2a45eb",
    "t10k-labels-idx1-ubyte.gz": "c3e21ad94edeaf8ac9f2ea75324c33742240c52175536a20ee351484cafd6f3a",
    "indices-train.txt": "ff3193ec431e97ede262b9dba17959aee04ad2556a827f1435b0347953da7146",
    "indices-test.txt": "1e18c4b4fd4c5e7615d55df68c1ac6481c34be1e2a08cdba96f4f5bc96a1651c",
}
SEED = 11  # the selection seed stated in PROVENANCE.md


def _indices(split: str) -> list[int]:
    return [int(v) for v in (MINI / f"indices-{split}.txt").read_text().split()]


def test_checksums_match_and_sum_file_agrees():
    for name, digest in DIGESTS.items():
        assert hashlib.sha256((MINI / name).read_bytes()).hexdigest() == digest, name
    listed = dict(reversed(line.split("  ")) for line in (MINI / "SHA256SUMS").read_text().splitlines())
    assert listed == DIGESTS
    assert "MIT" in (MINI / "LICENSE").read_text() and "Zalando" in (MINI / "LICENSE").read_text()
    assert f"seed {SEED}" in (MINI / "PROVENANCE.md").read_text()


def test_gzip_is_deterministic():
    # mtime 0 and no file name in the header: rebuilding gives the same bytes, hence the same sums.
    for name in DIGESTS:
        if name.endswith(".gz"):
            head = (MINI / name).read_bytes()[:10]
            assert head[:3] == b"\x1f\x8b\x08" and head[3] & 0x08 == 0 and head[4:8] == b"\0\0\0\0", name


def test_loads_with_nothing_installed_and_is_balanced(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DEFAULT_ROOT_BASE", str(tmp_path / "nothing"))
    monkeypatch.delenv(data.ENV_ROOT, raising=False)
    ok, root, detail = dataset_status("fashion-mnist-mini")
    assert ok and "Fashion-MNIST" in detail
    ds = load_dataset(DataConfig(name="fashion-mnist-mini"), 0)
    assert ds.name == "fashion-mnist-mini" and ds.num_classes == 10 and ds.class_names == idx.FASHION_CLASSES
    assert ds.train_x.shape == (10000, 1, 28, 28) and ds.train_x.dtype == torch.uint8
    assert ds.test_x.shape == (2000, 1, 28, 28)
    assert torch.bincount(ds.train_y).tolist() == [1000] * 10
    assert torch.bincount(ds.test_y).tolist() == [200] * 10
    # Real images, not blanks: Fashion-MNIST's mean pixel is about 73 of 255.
    assert 60 < ds.train_x.float().mean().item() < 85
    for split, n, total in (("train", 10000, 60000), ("test", 2000, 10000)):
        ix = _indices(split)
        assert len(ix) == n and ix == sorted(set(ix)) and 0 <= ix[0] and ix[-1] < total
    # The limits still take a stratified subset of it.
    small = load_dataset(DataConfig(name="fashion-mnist-mini", train_limit=500, test_limit=100), 0)
    assert torch.bincount(small.train_y).tolist() == [50] * 10


@need((FMNIST / "train-images-idx3-ubyte.gz").is_file(), str(FMNIST), "apt-get install dataset-fashion-mnist")
def test_is_the_stated_subset_of_the_official_files():
    full = load_dataset(DataConfig(name="fashion-mnist"), 0)
    mini = load_dataset(DataConfig(name="fashion-mnist-mini"), 0)
    for split, fx, fy, mx, my, per_class in (("train", full.train_x, full.train_y, mini.train_x, mini.train_y, 1000),
                                             ("t10k", full.test_x, full.test_y, mini.test_x, mini.test_y, 200)):
        ix = _indices("train" if split == "train" else "test")
        assert torch.equal(mx, fx[ix]) and torch.equal(my, fy[ix])
        # The rule in PROVENANCE.md, recomputed independently of the script.
        labels = fy.numpy()
        want = []
        for c in range(10):
            members = np.flatnonzero(labels == c).tolist()
            members.sort(key=lambda i: hashlib.sha256(f"{SEED}:{split}:{i}".encode()).digest())
            want += members[:per_class]
        assert sorted(want) == ix
