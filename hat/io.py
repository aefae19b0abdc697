"""The model file: one HDF5 file (h5py), written atomically.

Layout (format 1):
    attrs: format ('hat-model'), format_version, hat_version, epoch, iteration, seed,
           rng_state (JSON of the generator's bit_generator.state)
    architecture: attr 'json': [{"class_name": ..., "config": {...}}, ...] in layer order
    layers/<layer name>/params/<W, b, ...>  and  layers/<layer name>/state/<...>
Anyone with h5py can read the weights without hat.
"""

import json
import os
import tempfile

import numpy as np

FORMAT = "hat-model"
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """The file is missing, truncated, corrupt, not a hat model, or from a newer format."""


def _jsonable(value):
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if callable(value):
        # A user's initializer: the file holds the weights, so loading never calls it.
        from hat import initializations

        name = getattr(value, "__name__", "")
        return name if name in initializations.names() else "zeros"
    return value


def save(model, path) -> None:
    """Write the model to path. A crash mid-write leaves any previous file at path intact."""
    import h5py

    from hat import __version__

    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    architecture = [
        {
            "class_name": type(layer).__name__,
            "config": {k: _jsonable(v) for k, v in layer.get_config().items()},
        }
        for layer in model.layers
    ]
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".h5", dir=folder)
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs.update(
                format=FORMAT,
                format_version=FORMAT_VERSION,
                hat_version=__version__,
                epoch=model.epoch,
                iteration=model.iteration,
                seed=model.seed,
                rng_state=json.dumps(model.rng.bit_generator.state),
            )
            f.create_group("architecture").attrs["json"] = json.dumps(architecture)
            for layer in model.layers:
                group = f.create_group(f"layers/{layer.name}")
                for kind in ("params", "state"):
                    sub = group.create_group(kind)
                    for key, value in getattr(layer, kind).items():
                        sub.create_dataset(key, data=value)
            f.flush()
        with open(tmp, "rb+") as raw:
            os.fsync(raw.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load(path):
    """Rebuild a model saved by `save`: architecture, weights, epoch and random state."""
    import h5py

    from hat.layers.base import Layer
    from hat.models import Model

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelFileError(f"no model file at {path!r}")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ModelFileError(
            f"{path!r} is not a readable HDF5 file ({err}); it may be truncated or corrupt"
        ) from None
    with f:
        if f.attrs.get("format") != FORMAT:
            raise ModelFileError(f"{path!r} is an HDF5 file but not a hat model file")
        version = int(f.attrs["format_version"])
        if version > FORMAT_VERSION:
            raise ModelFileError(
                f"{path!r} has model format {version}; this hat reads up to "
                f"{FORMAT_VERSION}. Upgrade hat to read it"
            )
        layers = []
        for entry in json.loads(f["architecture"].attrs["json"]):
            cls = Layer.registry.get(entry["class_name"])
            if cls is None:
                raise ModelFileError(
                    f"{path!r} uses layer class {entry['class_name']!r}, which "
                    "is not defined; import the module that defines it first"
                )
            layers.append(cls(**entry["config"]))
        model = Model(layers, seed=int(f.attrs["seed"]))
        for layer in model.layers:
            group = f[f"layers/{layer.name}"]
            for kind in ("params", "state"):
                for key, target in getattr(layer, kind).items():
                    target[...] = group[kind][key][()]  # in place: keeps the flat buffers
        model.epoch = int(f.attrs["epoch"])
        model.iteration = int(f.attrs["iteration"])
        model.rng.bit_generator.state = json.loads(f.attrs["rng_state"])
    return model
