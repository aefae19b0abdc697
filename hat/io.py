"""The model file: one HDF5 file (h5py) with everything a run needs to resume exactly.

Writes are atomic: a temporary file in the same folder, flushed and fsynced, then renamed over
the target, so a crash or a kill mid-save leaves the previous file intact. The layout is
documented in docs/saving.md; anyone with h5py can read the weights without hat.
"""

import json
import os
import tempfile

import numpy as np

FORMAT = "hat-model"
"""The `format` attribute of a full model file."""
WEIGHTS_FORMAT = "hat-weights"
"""The `format` attribute of a weights-only file."""
FORMAT_VERSION = 2  # 1: a chain of layers; 2 adds graphs (nodes, inputs, outputs)
"""The newest layout version this hat writes and reads; later ones are refused clearly."""


class ModelFileError(ValueError):
    """The file is missing, truncated, corrupt, not a hat file, or from a newer format."""


# -- writing -------------------------------------------------------------------------------
def save(model, path, include_optimizer: bool = True) -> None:
    """The whole model: architecture, weights, counters, random state and, when it has them,
    the optimizer, the callbacks' state, the History and the position in the current epoch.

    Args:
        model (Model): The model to save.
        path (str | os.PathLike): The HDF5 file to write (replaced atomically).
        include_optimizer (bool): Default True. Also save the optimizer and its state, which
            resuming needs.

    Raises:
        OSError: The file cannot be written.
    """
    from hat import __version__

    def write(f):
        f.attrs.update(
            format=FORMAT,
            format_version=_version(model),
            hat_version=__version__,
            epoch=model.epoch,
            iteration=model.iteration,
            seed=model.seed,
            rng_state=json.dumps(model.rng.bit_generator.state),
        )
        f.create_group("architecture").attrs["json"] = json.dumps(architecture(model))
        _write_layers(f, model)
        if include_optimizer and model.optimizer is not None:
            _write_optimizer(f.create_group("optimizer"), model.optimizer)
        _write_training(f.create_group("training"), model)

    _write_atomic(path, write)


def save_weights(model, path) -> None:
    """Only the layers' params and state, by layer name.

    Args:
        model (Model): The model whose weights to save.
        path (str | os.PathLike): The HDF5 file to write (replaced atomically).

    Raises:
        OSError: The file cannot be written.
    """
    from hat import __version__

    def write(f):
        f.attrs.update(
            format=WEIGHTS_FORMAT,
            format_version=1,
            hat_version=__version__,  # layout unchanged
        )
        _write_layers(f, model)

    _write_atomic(path, write)


def architecture(model) -> list | dict:
    """The model's description: for a chain, its layers in order (format 1, which older hat
    reads too); for a graph, the layers and the nodes that call them.

    Args:
        model (Model): The model.

    Returns:
        list | dict: A list of `{"class_name": ..., "config": {...}}` per layer for a chain;
            for a graph, a dict that also holds the nodes, inputs and outputs.
    """
    layers = [
        {
            "class_name": type(layer).__name__,
            "config": {k: _jsonable(v) for k, v in layer.get_config().items()},
        }
        for layer in model.layers
    ]
    if _is_chain(model):
        return layers
    layer_index = {id(layer): i for i, layer in enumerate(model.layers)}
    node_index = {id(node): i for i, node in enumerate(model.nodes)}
    return {
        "layers": layers,
        "nodes": [
            {"layer": layer_index[id(n.layer)], "inputs": [node_index[id(p)] for p in n.inputs]}
            for n in model.nodes
        ],
        "inputs": [node_index[id(n)] for n in model.in_nodes],
        "outputs": [node_index[id(n)] for n in model.out_nodes],
        "any": [node_index[id(n)] for n in model.any_nodes],
    }


def _is_chain(model) -> bool:
    nodes = model.nodes
    return (
        len(model.in_nodes) == 1
        and len(model.out_nodes) == 1
        and not model.any_nodes
        and len(nodes) == len(model.layers)
        and model.out_nodes[0] is nodes[-1]
        and all(n.inputs == [nodes[i]] for i, n in enumerate(nodes[1:]))
    )


def _version(model) -> int:
    return 1 if _is_chain(model) else FORMAT_VERSION


def _write_atomic(path, write) -> None:
    import h5py

    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".h5", dir=folder)
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            write(f)
            f.flush()
        with open(tmp, "rb+") as raw:
            os.fsync(raw.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _write_layers(f, model) -> None:
    for layer in model.layers:
        group = f.create_group(f"layers/{layer.name}")
        for kind in ("params", "state"):
            sub = group.create_group(kind)
            for key, value in getattr(layer, kind).items():
                sub.create_dataset(key, data=value)


def _write_optimizer(group, optimizer) -> None:
    config = optimizer.get_config()
    group.attrs["class_name"] = type(optimizer).__name__
    group.attrs["config"] = json.dumps({k: _jsonable(v) for k, v in config.items()})
    state = group.create_group("state")
    for key, value in optimizer.state.items():
        state.create_dataset(key, data=value)


def _write_training(group, model) -> None:
    """What fit needs to continue a run: History, target epoch, epoch progress, callbacks."""
    if model.history is not None:
        group.attrs["history"] = json.dumps(model.history.get_state(), default=_jsonable)
    if getattr(model, "fit_target_epoch", None) is not None:
        group.attrs["fit_target_epoch"] = model.fit_target_epoch
    progress = getattr(model, "epoch_progress", None)
    if progress is not None:
        _write_tree(group, "epoch_progress", progress)
    for index, callback in enumerate(getattr(model, "active_callbacks", [])):
        state = callback.get_state()
        if state:
            _write_tree(group, f"callbacks/{index}_{type(callback).__name__}", state)


def _write_tree(parent, name: str, obj) -> None:
    """Nested dicts and lists whose leaves are JSON values or arrays, arrays as datasets."""
    if isinstance(obj, np.ndarray):
        parent.create_dataset(name, data=obj)
        return
    if isinstance(obj, dict) or (isinstance(obj, list) and any(_holds_array(v) for v in obj)):
        group = parent.create_group(name)
        group.attrs["kind"] = "dict" if isinstance(obj, dict) else "list"
        items = obj.items() if isinstance(obj, dict) else enumerate(obj)
        for key, value in items:
            _write_tree(group, str(key), value)
        return
    parent.attrs[f"json:{name}"] = json.dumps(obj, default=_jsonable)


def _holds_array(obj) -> bool:
    if isinstance(obj, np.ndarray):
        return True
    if isinstance(obj, dict):
        return any(_holds_array(v) for v in obj.values())
    if isinstance(obj, list):
        return any(_holds_array(v) for v in obj)
    return False


def _jsonable(value):
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if callable(value):
        # A user's initializer: the file holds the weights, so loading never calls it.
        from hat import initializations

        name = getattr(value, "__name__", "")
        return name if name in initializations.names() else "zeros"
    return value


# -- reading -------------------------------------------------------------------------------
def _open(path, expected_format: str):
    import h5py

    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"path must be a file path (str or os.PathLike); got {path!r}")
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ModelFileError(f"no model file at {path!r}: it is a folder; give the file's path")
    if not os.path.isfile(path):
        raise ModelFileError(f"no model file at {path!r}")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ModelFileError(
            f"{path!r} is not a readable HDF5 file ({err}); it may be truncated or corrupt"
        ) from None
    found = f.attrs.get("format")
    if found not in (FORMAT, WEIGHTS_FORMAT) or (expected_format == FORMAT and found != FORMAT):
        f.close()
        what = (
            "a hat weights file, not a whole model"
            if found == WEIGHTS_FORMAT
            else "not a hat model file"
        )
        raise ModelFileError(f"{path!r} is an HDF5 file but {what}")
    version = int(f.attrs.get("format_version", -1))
    if version > FORMAT_VERSION:
        f.close()
        raise ModelFileError(
            f"{path!r} has model format {version}; this hat reads up to "
            f"{FORMAT_VERSION}. Upgrade hat to read it"
        )
    return f


def load(path, custom_objects: dict | None = None):
    """Rebuild a model saved by `save`: architecture, weights, counters, random state, and the
    optimizer (as model.optimizer) when the file holds one.

    Args:
        path (str | os.PathLike): A file written by `save` (or `Model.save`).
        custom_objects (dict | None): Default None. Names of layer classes and Lambda
            functions that cannot be imported, mapped to them.

    Returns:
        Model: The model, ready to predict or to train on.

    Raises:
        ModelFileError: The file is missing, not a hat model file, damaged, or from a newer
            format.
    """
    with _open(path, FORMAT) as f:
        try:
            model = _build(f, path, custom_objects or {})
            _read_weights(f, model, path)
            _read_counters(f, model)
            if "optimizer" in f:
                model.optimizer = read_optimizer(f["optimizer"])
        except (KeyError, ValueError, TypeError) as err:
            if isinstance(err, ModelFileError) or getattr(err, "names_the_layer", False):
                raise
            raise ModelFileError(
                f"{os.fspath(path)!r} is a hat model file, but it is incomplete or damaged: {err}"
            ) from err
    return model


def load_weights(model, path) -> None:
    """Copy params and state from a model or weights file into `model`, by layer name; every
    name and shape must match.

    Args:
        model (Model): A built model with the same layers.
        path (str | os.PathLike): A file written by `save` or `save_weights`.

    Raises:
        ModelFileError: The file cannot be read, or a layer's name or a weight's shape does
            not match; the message says which.
    """
    with _open(path, WEIGHTS_FORMAT) as f:
        _read_weights(f, model, path)


def _build(f, path, custom_objects: dict):
    from hat import graph
    from hat.models import Model

    described = json.loads(f["architecture"].attrs["json"])
    seed = int(f.attrs["seed"])
    entries = described if isinstance(described, list) else described["layers"]
    layers = [_layer(entry, path, custom_objects) for entry in entries]
    if isinstance(described, list):
        return Model(layers, seed=seed)
    nodes = [graph.Node(layers[e["layer"]], [], None) for e in described["nodes"]]
    for node, entry in zip(nodes, described["nodes"], strict=True):
        node.inputs = [nodes[i] for i in entry["inputs"]]
        if len(node.inputs) > 1 and hasattr(node.layer, "accept_inputs"):
            node.layer.accept_inputs(len(node.inputs))  # a recurrent layer's initial states
        if not node.inputs:
            node.layer._input_node = node
            node.output_shape = tuple(node.layer.in_shape)
    return Model(
        in_layers=[nodes[i] for i in described["inputs"]],
        out_layers=[nodes[i] for i in described["outputs"]],
        any_layers=[nodes[i] for i in described["any"]],
        seed=seed,
    )


def _layer(entry: dict, path, custom_objects: dict):
    from hat.layers.base import Layer

    name = entry["class_name"]
    cls = custom_objects.get(name) or Layer.registry.get(name)
    if cls is None:
        raise ModelFileError(
            f"{os.fspath(path)!r} uses layer class {name!r}, which is not defined; import the "
            f"module that defines it first, or pass custom_objects={{{name!r}: {name}}}"
        )
    return cls.from_config(entry["config"], custom_objects)


def _read_weights(f, model, path) -> None:
    saved = set(f["layers"]) if "layers" in f else set()
    names = [layer.name for layer in model.layers]
    if saved != set(names):
        raise ModelFileError(
            f"{os.fspath(path)!r} holds layers {sorted(saved)}; the model has {sorted(names)}"
        )
    for layer in model.layers:
        for kind in ("params", "state"):
            group = f[f"layers/{layer.name}/{kind}"]
            if set(group) != set(getattr(layer, kind)):
                raise ModelFileError(
                    f"{os.fspath(path)!r}: layer {layer.name} has {kind} "
                    f"{sorted(group)} in the file, {sorted(getattr(layer, kind))}"
                    " in the model"
                )
            for key, target in getattr(layer, kind).items():
                if group[key].shape != target.shape:
                    raise ModelFileError(
                        f"{os.fspath(path)!r}: {layer.name}.{key} has shape "
                        f"{group[key].shape} in the file, {target.shape} in "
                        "the model"
                    )
    for layer in model.layers:  # only once every name and shape matched: all or nothing
        for kind in ("params", "state"):
            group = f[f"layers/{layer.name}/{kind}"]
            for key, target in getattr(layer, kind).items():
                target[...] = group[key][()]  # in place: keeps the flat buffers shared


def _read_counters(f, model) -> None:
    model.epoch = int(f.attrs["epoch"])
    model.iteration = int(f.attrs["iteration"])
    model.rng.bit_generator.state = json.loads(f.attrs["rng_state"])


def read_optimizer(group, into=None):
    """The saved optimizer, or its state loaded into `into` (an optimizer of the same class).

    Args:
        group (h5py.Group): The file's "optimizer" group.
        into (Optimizer | None): Default None. An optimizer to load the state into; None
            builds one from the saved config.

    Returns:
        Optimizer: The optimizer, with its saved state.

    Raises:
        ModelFileError: `into` is of another class than the saved one.
    """
    from hat import optimizers

    class_name = group.attrs["class_name"]
    if into is None:
        into = optimizers.from_config(class_name, json.loads(group.attrs["config"]))
    elif type(into).__name__ != class_name:
        raise ModelFileError(
            f"the checkpoint's optimizer is {class_name}; fit was given {type(into).__name__}"
        )
    saved_lr = json.loads(group.attrs["config"]).get("lr")
    if not callable(into.lr) and isinstance(saved_lr, (int, float)):
        into.lr = float(saved_lr)  # a rate that ReduceLROnPlateau or a scheduler changed
    into.state = {key: np.array(group["state"][key][()]) for key in group["state"]}
    return into


def read_checkpoint(path, model, optimizer):
    """Load a full checkpoint into an existing model for fit(resume_from=...).

    It restores the weights, counters, random state and optimizer state, and returns the
    training record.

    Args:
        path (str | os.PathLike): A file written by `save` during a `fit`.
        model (Model): The model to restore, built with the same architecture.
        optimizer (Optimizer): The optimizer fit was given; the saved state goes into it.

    Returns:
        dict: "optimizer", "history", "fit_target_epoch", "epoch_progress" and "callbacks"
            (each callback's saved state).

    Raises:
        ModelFileError: The file cannot be read, or holds another architecture or optimizer.
    """
    with _open(path, FORMAT) as f:
        saved_arch = json.loads(f["architecture"].attrs["json"])
        if saved_arch != architecture(model):
            raise ModelFileError(
                f"{os.fspath(path)!r} holds a different architecture than this "
                "model; build the same model, or use load_model"
            )
        _read_weights(f, model, path)
        _read_counters(f, model)
        if "optimizer" in f:
            optimizer = read_optimizer(f["optimizer"], into=optimizer)
        training = f["training"] if "training" in f else None
        record = {
            "optimizer": optimizer,
            "history": None,
            "fit_target_epoch": None,
            "epoch_progress": None,
            "callbacks": {},
        }
        if training is not None:
            if "history" in training.attrs:
                record["history"] = json.loads(training.attrs["history"])
            if "fit_target_epoch" in training.attrs:
                record["fit_target_epoch"] = int(training.attrs["fit_target_epoch"])
            tree = _read_tree(training)
            record["epoch_progress"] = tree.get("epoch_progress")
            record["callbacks"] = tree.get("callbacks", {})
    return record


def _read_tree(group):
    out = {
        key[len("json:") :]: json.loads(value)
        for key, value in group.attrs.items()
        if key.startswith("json:")
    }
    for key, item in group.items():
        out[key] = item[()] if not hasattr(item, "keys") else _read_tree(item)
    if group.attrs.get("kind") == "list":
        return [out[str(i)] for i in range(len(out))]
    return out
