#!/usr/bin/env python3
"""Builds the embedded `fashion-mnist-mini` dataset from the official Fashion-MNIST IDX files.

    python3 scripts/make_fashion_mnist_mini.py [SOURCE_DIR]

SOURCE_DIR holds the four official files (default /usr/share/datasets/fashion-mnist, where
Debian's dataset-fashion-mnist installs them). Writes, into
python_worker/projhead_worker/training/data/fashion_mnist_mini/: the four IDX .gz files, the chosen
indices, SHA256SUMS and PROVENANCE.md. Standard library only; the output is byte-identical on
every run (gzip with mtime 0 and no file name), so the checksums are stable.

Selection rule, reproducible without this script or any RNG library: within each class of a
split, order the image indices by sha256(f"{SEED}:{split}:{index}") and keep the first
PER_CLASS[split]; the kept indices are then written in their original order.
"""
from __future__ import annotations

import gzip
import hashlib
import struct
import sys
from pathlib import Path

SEED = 11
PER_CLASS = {"train": 1000, "t10k": 200}  # 10 000 training and 2 000 test images
STEMS = ("images-idx3-ubyte", "labels-idx1-ubyte")
OUT = Path(__file__).resolve().parent.parent / "python_worker" / "projhead_worker" / "training" / "data" / "fashion_mnist_mini"


def read_idx(path: Path, magic: int) -> tuple[tuple[int, ...], bytes]:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    ndim = magic & 0xFF
    got, *dims = struct.unpack(f">{1 + ndim}I", raw[: 4 + 4 * ndim])
    if got != magic:
        sys.exit(f"{path}: wrong magic number 0x{got:08x}, expected 0x{magic:08x}")
    return tuple(dims), raw[4 + 4 * ndim:]


def idx_bytes(magic: int, dims: tuple[int, ...], body: bytes) -> bytes:
    return struct.pack(f">{1 + len(dims)}I", magic, *dims) + body


def choose(labels: bytes, split: str) -> list[int]:
    def key(i: int) -> bytes:
        return hashlib.sha256(f"{SEED}:{split}:{i}".encode()).digest()

    keep: list[int] = []
    for c in range(10):
        members = [i for i, y in enumerate(labels) if y == c]
        if len(members) < PER_CLASS[split]:
            sys.exit(f"{split}: class {c} has {len(members)} images, fewer than {PER_CLASS[split]}")
        keep += sorted(members, key=key)[: PER_CLASS[split]]
    return sorted(keep)


def file_for(src: Path, split: str, stem: str) -> Path:
    for name in (f"{split}-{stem}.gz", f"{split}-{stem}"):
        if (src / name).is_file():
            return src / name
    sys.exit(f"{src}: {split}-{stem}[.gz] not found (apt-get install dataset-fashion-mnist, or pass the folder)")


def main() -> None:
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist")
    OUT.mkdir(parents=True, exist_ok=True)
    sources, outputs = [], []
    for split in PER_CLASS:
        img_path, lab_path = file_for(src, split, STEMS[0]), file_for(src, split, STEMS[1])
        (n, rows, cols), pixels = read_idx(img_path, 0x803)
        (m,), labels = read_idx(lab_path, 0x801)
        if n != m:
            sys.exit(f"{lab_path}: {m} labels for {n} images")
        keep = choose(labels, split)
        size = rows * cols
        body_x = b"".join(pixels[i * size:(i + 1) * size] for i in keep)
        body_y = bytes(labels[i] for i in keep)
        for path, raw in ((img_path, idx_bytes(0x803, (len(keep), rows, cols), body_x)),
                          (lab_path, idx_bytes(0x801, (len(keep),), body_y))):
            name = f"{split}-{STEMS[0] if raw[3] == 3 else STEMS[1]}.gz"
            # mtime=0 and gzip.compress's empty file name: the same bytes on every run.
            (OUT / name).write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
            outputs.append(name)
            src_raw = path.read_bytes()
            sources.append((path.name, hashlib.sha256(src_raw).hexdigest(),
                            hashlib.sha256(gzip.decompress(src_raw) if src_raw[:2] == b"\x1f\x8b" else src_raw).hexdigest()))
        split_name = "train" if split == "train" else "test"
        (OUT / f"indices-{split_name}.txt").write_text("".join(f"{i}\n" for i in keep))
        outputs.append(f"indices-{split_name}.txt")
    sums = "".join(f"{hashlib.sha256((OUT / f).read_bytes()).hexdigest()}  {f}\n" for f in outputs)
    (OUT / "SHA256SUMS").write_text(sums)
    (OUT / "PROVENANCE.md").write_text(provenance(src, sources, sums))
    sys.stdout.write(sums)


def provenance(src: Path, sources: list[tuple[str, str, str]], sums: str) -> str:
    src_lines = "\n".join(f"| `{n}` | `{gz}` | `{raw}` |" for n, gz, raw in sources)
    return f"""# fashion-mnist-mini: provenance

A class-balanced subset of the official Fashion-MNIST splits (Xiao, Rasul and Vollgraf 2017,
<https://github.com/zalandoresearch/fashion-mnist>, MIT licence, see LICENSE), in the
original IDX format (gzipped), so the same reader loads it as the full dataset.

- **train**: 10 000 images of the official 60 000-image training split, 1 000 per class.
- **test**: 2 000 images of the official 10 000-image test split (`t10k`), 200 per class.
- Images and labels are byte-for-byte those of the official files; only the selection differs.
- **Rule** (seed {SEED}): within each class of a split, order the image indices (0-based
  positions in the official file) by `sha256("{SEED}:<split>:<index>")`, with `<split>` being
  `train` or `t10k`, and keep the first {PER_CLASS['train']} (train) or {PER_CLASS['t10k']} (t10k);
  the kept images are stored in their original order. The kept indices are listed in
  `indices-train.txt` and `indices-test.txt` (one a line, in file order).
- Made by `scripts/make_fashion_mnist_mini.py` (standard library only; gzip level 9, mtime 0,
  no file name, so a rerun reproduces these bytes exactly) from `{src}`,
  Debian's
  `dataset-fashion-mnist` 0.0~git20200523.55506a9-1 (upstream commit 55506a9). The checksums
  of the uncompressed IDX files are given too, so the source can be checked against any other
  copy of the official files, whatever its gzip settings.

## Source files

| file | sha256 of the .gz | sha256 of the uncompressed IDX |
|---|---|---|
{src_lines}

## Files here (`sha256sum -c SHA256SUMS`)

```
{sums}```
"""


if __name__ == "__main__":
    main()
