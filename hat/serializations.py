"""Hat's names for saving and loading a whole model: save(md, path), load(path).

load also reads the original Hat's pickles (md<N>_epochs.p), converting their weights.
"""

import os

from hat.io import ModelFileError, save
from hat.legacy import LegacyFileError

__all__ = ["LegacyFileError", "ModelFileError", "load", "save"]

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def load(path, custom_objects: dict | None = None):
    """A model from a hat model file, or from an original Hat pickle.

    Args:
        path (str | os.PathLike): A file written by `save` (HDF5) or Hat's `md<N>_epochs.p`.
        custom_objects (dict | None): Default None. Your own layer classes and Lambda
            functions by name, for those that cannot be imported (a Hat pickle names a
            Lambda's function as `__main__.<name>`).

    Returns:
        Model: The model, with its weights and epoch counter.

    Raises:
        ModelFileError: There is no file at `path`, or the HDF5 file cannot be read.
        LegacyFileError: The pickle is not a Hat model hat can rebuild.
    """
    from hat import io
    from hat.legacy import load_hat_pickle

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelFileError(f"no model file at {path!r}")
    with open(path, "rb") as f:
        head = f.read(8)
    if head == _HDF5_SIGNATURE or not head:
        return io.load(path, custom_objects=custom_objects)
    return load_hat_pickle(path, custom_objects=custom_objects)
