"""What every dataset loader shares: the search path, the download, the checksum, the error.

A dataset named NAME is looked for in a folder given to load_data, else in $HAT_DATASETS/NAME
and then ~/.hat/datasets/NAME. Files missing from all of them are downloaded (with a progress
bar) into the given folder or ~/.hat/datasets/NAME, through a temporary file that is checked
before it is renamed, so that a file in place is always whole.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path


class DatasetError(ValueError):
    """A dataset file is missing, corrupt or not what it claims to be."""


def home_folder(dataset: str) -> Path:
    """~/.hat/datasets/<dataset>, resolved on each call so that a changed HOME is honoured."""
    return Path(os.path.expanduser("~")) / ".hat" / "datasets" / dataset


def search_folders(dataset: str, path: str | os.PathLike | None) -> list[Path]:
    """The folders to look in, in order: `path` alone if given, else $HAT_DATASETS/<dataset>
    (when HAT_DATASETS is set) and ~/.hat/datasets/<dataset>."""
    if path is not None:
        return [Path(path).expanduser()]
    folders = []
    root = os.environ.get("HAT_DATASETS")
    if root:
        folders.append(Path(root).expanduser() / dataset)
    folders.append(home_folder(dataset))
    return folders


def open_maybe_gzip(file: Path):
    """A binary reader of `file`, decompressing if its content is gzip (decided by content,
    not name: downloads are checked while still named *.part)."""
    with open(file, "rb") as f:
        is_gzip = f.read(2) == b"\x1f\x8b"
    return gzip.open(file, "rb") if is_gzip else open(file, "rb")


def sha256_of(file: Path, decompress: bool = False) -> str:
    """The sha256 of a file's bytes (decompress=True: of its decompressed bytes if gzip)."""
    digest = hashlib.sha256()
    with open_maybe_gzip(file) if decompress else open(file, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, dest: Path, check: Callable[[Path], None] | None = None) -> None:
    """Download `url` to `dest` through a temporary file, so that `dest` is whole or absent.

    Args:
        url (str): where to read from (any scheme urllib opens, file:// included).
        dest (Path): the final file; its folder must exist.
        check (callable or None, default None): called with the temporary file before the
            rename; it raises (DatasetError) when the bytes are wrong, and nothing is left.
    """
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
        # Checked before the rename, so that a bad mirror leaves nothing behind and the next
        # mirror gets its turn.
        if check is not None:
            check(Path(tmp.name))
        os.replace(tmp.name, dest)
    except BaseException:
        Path(tmp.name).unlink(missing_ok=True)
        raise


def sha256_check(url: str, expected: str, decompress: bool = False) -> Callable[[Path], None]:
    """A `check` for download: the file's sha256 (of its decompressed bytes if asked)."""

    def check(file: Path) -> None:
        actual = sha256_of(file, decompress)
        if actual != expected:
            what = "decompressed sha256" if decompress else "sha256"
            raise DatasetError(f"{url} sent data whose {what} is {actual}, expected {expected}.")

    return check


def fetch_first(
    dest: Path, urls: Iterable[str], check_for: Callable[[str], Callable | None], fetch=download
) -> None:
    """Download `dest` from the first of `urls` that serves it and passes its check; raises
    OSError naming every failure when none does."""
    errors = []
    for url in urls:
        try:
            fetch(url, dest, check_for(url))
            return
        except Exception as err:  # any failure means: try the next mirror
            errors.append(f"{url}: {type(err).__name__}: {err}")
    raise OSError("; ".join(errors))


def check_counts(title: str, folder: Path, *splits) -> None:
    """One label per image in each (images, labels) split, or a DatasetError."""
    for images, labels in splits:
        if len(images) != len(labels):
            raise DatasetError(
                f"{title} in {folder} has {len(images)} images but {len(labels)} labels in one "
                "split; expected equal counts. Delete the files and retry."
            )


def not_found_message(
    title: str,
    dataset: str,
    file_names: list[str],
    path: str | os.PathLike | None,
    folders: list[Path],
    target: Path,
    err: Exception,
    alternatives: str = "",
) -> str:
    """The message of a DatasetError raised when the files are neither found nor downloaded:
    where hat looked, why the download failed, and how to fix it."""
    files = ", ".join(file_names)
    searched = [f"  {folder}" for folder in folders]
    if path is None and not os.environ.get("HAT_DATASETS"):
        searched.insert(0, f"  $HAT_DATASETS/{dataset} (HAT_DATASETS is not set)")
    count = "the file" if len(file_names) == 1 else f"the {_count_word(len(file_names))} files"
    return (
        f"{title} was not found and could not be downloaded.\n"
        f"Looked for {count} {files}{alternatives} in:\n"
        + "\n".join(searched)
        + f"\nDownloading into {target} failed: {err}\n"
        f"Fix: put {count} in one of those folders (for instance ~/.hat/datasets/{dataset}, "
        f"or $HAT_DATASETS/{dataset} with HAT_DATASETS set), or pass their folder as "
        "load_data(path=...)."
    )


def _count_word(n: int) -> str:
    return {2: "two", 3: "three", 4: "four", 5: "five"}.get(n, str(n))
