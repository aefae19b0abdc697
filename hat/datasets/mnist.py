"""MNIST from the four canonical IDX files: search path, download, checksum, reader."""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np

__all__ = ["DatasetError", "load_data"]

# The four files, named without .gz, and the sha256 of their decompressed bytes. The decompressed
# bytes are what we check because mirrors recompress the image files, changing the .gz hashes.
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
FILES = tuple(SHA256)
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension


class DatasetError(ValueError):
    """A dataset file is missing, corrupt or not what it claims to be."""


def load_data(
    path: str | os.PathLike | None = None, *, verify: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return MNIST as (x_train, y_train, x_test, y_test): uint8 (N, 28, 28) images, int64 labels.

    `path` is the folder holding the four files; without it, $HAT_DATASETS/mnist and then
    ~/.hat/datasets/mnist are searched. When no folder holds all four, the missing ones are
    downloaded into `path`, or into ~/.hat/datasets/mnist. With `verify` (the default) the
    sha256 of every decompressed file is checked.
    """
    folders = _search_folders(path)
    folder = next((f for f in folders if not _missing(f)), None)
    if folder is None:
        folder = Path(path).expanduser() if path is not None else _home_folder()
        try:
            _fetch(folder, _missing(folder), verify)
        except Exception as err:
            raise DatasetError(_not_found_message(path, folders, folder, err)) from err
    x_train = _read_idx(folder, "train-images-idx3-ubyte", IMAGES_MAGIC, verify)
    y_train = _read_idx(folder, "train-labels-idx1-ubyte", LABELS_MAGIC, verify)
    x_test = _read_idx(folder, "t10k-images-idx3-ubyte", IMAGES_MAGIC, verify)
    y_test = _read_idx(folder, "t10k-labels-idx1-ubyte", LABELS_MAGIC, verify)
    for images, labels in ((x_train, y_train), (x_test, y_test)):
        if len(images) != len(labels):
            raise DatasetError(
                f"MNIST in {folder} has {len(images)} images but {len(labels)} labels in one "
                "split; expected equal counts. Delete the files and retry."
            )
    # Labels are small; int64 is what losses and indexing expect.
    return x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64)


def _home_folder() -> Path:
    # Resolved on each call, so that a changed HOME is honoured.
    return Path(os.path.expanduser("~")) / ".hat" / "datasets" / "mnist"


def _search_folders(path: str | os.PathLike | None) -> list[Path]:
    if path is not None:
        return [Path(path).expanduser()]
    folders = []
    root = os.environ.get("HAT_DATASETS")
    if root:
        folders.append(Path(root).expanduser() / "mnist")
    folders.append(_home_folder())
    return folders


def _locate(folder: Path, name: str) -> Path | None:
    """The .gz file if present, else the uncompressed one, else None."""
    for candidate in (folder / (name + ".gz"), folder / name):
        if candidate.is_file():
            return candidate
    return None


def _missing(folder: Path) -> list[str]:
    return [name for name in FILES if _locate(folder, name) is None]


def _open(file: Path):
    # Decide by content, not name: downloads are checked while still named *.part. An IDX
    # file starts with two zero bytes, so it is never mistaken for gzip (1f 8b).
    with open(file, "rb") as f:
        is_gzip = f.read(2) == b"\x1f\x8b"
    return gzip.open(file, "rb") if is_gzip else open(file, "rb")


def _read_idx(folder: Path, name: str, magic: int, verify: bool) -> np.ndarray:
    file = _locate(folder, name)
    if file is None:
        raise DatasetError(f"{name}.gz (or {name}) is missing from {folder}.")
    retry = "Delete it and retry; load_data downloads a fresh copy."
    try:
        with _open(file) as f:
            head = f.read(4)
            if len(head) < 4 or struct.unpack(">I", head)[0] != magic:
                got = f"0x{struct.unpack('>I', head)[0]:08x}" if len(head) == 4 else repr(head)
                raise DatasetError(
                    f"{file} is not the IDX file expected: magic number {got}, "
                    f"expected 0x{magic:08x}. {retry}"
                )
            n_dims = magic & 0xFF
            dims_bytes = f.read(4 * n_dims)
            if len(dims_bytes) < 4 * n_dims:
                raise DatasetError(f"{file} ends inside its IDX header. {retry}")
            dims = struct.unpack(f">{n_dims}I", dims_bytes)
            # Read straight into the final array: no bytes object and no copy, so the peak
            # memory is the array itself, and the array is writable.
            data = np.empty(dims, dtype=np.uint8)
            n_read = _read_into(f, memoryview(data.reshape(-1)))
            if n_read < data.size:
                raise DatasetError(
                    f"{file} is truncated: its header declares shape {dims} ({data.size} bytes) "
                    f"but only {n_read} bytes follow. {retry}"
                )
            if f.read(1):
                raise DatasetError(
                    f"{file} holds more bytes than the shape {dims} in its header. {retry}"
                )
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise DatasetError(f"{file} could not be decompressed ({err}). {retry}") from err
    if verify:
        digest = hashlib.sha256(head)
        digest.update(dims_bytes)
        digest.update(memoryview(data.reshape(-1)))
        _check_sha256(file, name, digest.hexdigest())
    return data


def _read_into(f, buffer: memoryview) -> int:
    """Fill `buffer` from `f`; return the bytes read (fewer only at end of file)."""
    # In chunks: gzip's readinto makes a temporary bytes object as large as the request.
    total = 0
    while total < len(buffer):
        n = f.readinto(buffer[total : total + (1 << 20)])
        if not n:
            break
        total += n
    return total


def _check_sha256(file: Path, name: str, actual: str) -> None:
    expected = SHA256[name]
    if actual != expected:
        raise DatasetError(
            f"{file} fails its checksum: the sha256 of the decompressed {name} is {actual}, "
            f"expected {expected}. The file is corrupt or not the canonical MNIST; delete it "
            "and retry (load_data downloads a fresh copy)."
        )


def _sha256_of_decompressed(file: Path) -> str:
    digest = hashlib.sha256()
    with _open(file) as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch(folder: Path, names: list[str], verify: bool) -> None:
    """Download the named files into `folder`, trying each mirror in turn."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        errors = []
        for mirror in MIRRORS:
            url = mirror + name + ".gz"
            try:
                _download(url, folder / (name + ".gz"), SHA256[name] if verify else None)
                break
            except Exception as err:  # any failure means: try the next mirror
                errors.append(f"{url}: {type(err).__name__}: {err}")
        else:
            raise OSError("; ".join(errors))


def _download(url: str, dest: Path, sha256: str | None = None) -> None:
    """Download `url` to `dest` through a temporary file, so that `dest` is whole or absent."""
    import urllib.request

    from tqdm import tqdm

    tmp = tempfile.NamedTemporaryFile(
        dir=dest.parent, prefix=dest.name + ".", suffix=".part", delete=False
    )
    try:
        with tmp, urllib.request.urlopen(url, timeout=60) as response:
            size = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=size, unit="B", unit_scale=True, desc=dest.name) as bar:
                while chunk := response.read(1 << 16):
                    tmp.write(chunk)
                    bar.update(len(chunk))
        # Check before the rename, so that a bad mirror leaves nothing behind and the next
        # mirror gets its turn.
        if sha256 is not None:
            actual = _sha256_of_decompressed(Path(tmp.name))
            if actual != sha256:
                raise DatasetError(
                    f"{url} sent data whose decompressed sha256 is {actual}, expected {sha256}."
                )
        os.replace(tmp.name, dest)
    except BaseException:
        Path(tmp.name).unlink(missing_ok=True)
        raise


def _not_found_message(
    path: str | os.PathLike | None, folders: list[Path], target: Path, err: Exception
) -> str:
    files = ", ".join(name + ".gz" for name in FILES)
    searched = [f"  {folder}" for folder in folders]
    if path is None and not os.environ.get("HAT_DATASETS"):
        searched.insert(0, "  $HAT_DATASETS/mnist (HAT_DATASETS is not set)")
    return (
        f"MNIST was not found and could not be downloaded.\n"
        f"Looked for the four files {files} (or the same names without .gz) in:\n"
        + "\n".join(searched)
        + f"\nDownloading into {target} failed: {err}\n"
        "Fix: put the four files in one of those folders (for instance ~/.hat/datasets/mnist, "
        "or $HAT_DATASETS/mnist with HAT_DATASETS set), or pass their folder as "
        "load_data(path=...)."
    )
