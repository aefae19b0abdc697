"""Reading the original Hat's model pickles (md<N>_epochs.p), so old weights come over.

Hat 0.0.x (2016, Python 2, Theano) pickled a dict: {'class_name': 'Model', 'info': {'epoch',
'iter', 'in_ids', 'out_ids', ...}, 'atom_list': [{'info': <layer info>, 'prev_ids',
'next_ids'}]}, each layer info holding its config and its numpy weights. Only chains of layers
(what Sequential builds) are read. Theano's conv2d flips its kernels; they are flipped back
here. The sequence layers are converted in hat.legacy_sequences. A function that the pickle
names (a Lambda's) is not imported while reading: it comes back as a HatReference and is looked
up, in custom_objects first, when its Lambda is rebuilt.
"""

import importlib
import pickle
import sys

import numpy as np


class LegacyFileError(ValueError):
    """The pickle is not a Hat model, or holds a layer or graph that hat cannot rebuild."""


class HatReference:
    """A global that Hat's pickle names by module and name (a Lambda's function), unimported.

    Args:
        module (str): The module Hat's pickle names, such as '__main__'.
        name (str): The name in that module, such as 'mean_pool'.
    """

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def __repr__(self) -> str:
        return f"{self.module}.{self.name}"

    def __call__(self, *args):
        raise pickle.UnpicklingError(f"the pickle builds an object of {self}, which hat does not")


# The modules a Hat pickle's arrays and strings come from; every other global stays a reference.
_PASSED_THROUGH = ("numpy", "_codecs", "copy_reg", "copyreg", "__builtin__", "builtins")


class _HatUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module.split(".")[0] in _PASSED_THROUGH:
            return super().find_class(module, name)
        return HatReference(module, name)


def swap_time_and_channels(x):
    """(batch, a, b) -> (batch, b, a): between Hat's channels-first 1-D layers and hat's.

    Args:
        x (numpy.ndarray): A batch of sequences, (batch, time, channels) or the other way.

    Returns:
        numpy.ndarray: x with its two last axes swapped.
    """
    from hat import backend as K

    return K.swapaxes(x, 1, 2)


def load_hat_pickle(path, custom_objects: dict | None = None):
    """Rebuild a model from the original Hat's pickle, with its weights and counters.

    Args:
        path (str | os.PathLike): Hat's `md<N>_epochs.p`.
        custom_objects (dict | None): Default None. The functions of the model's Lambda
            layers, by the layer's name or the function's (Hat pickled them by name, as
            `__main__.mean_pool`); one missing here is imported from its module.

    Returns:
        Model: The model, its epoch and iteration counters as Hat saved them.

    Raises:
        LegacyFileError: The file is not a readable pickle of a Hat model, or holds a layer
            or a graph that hat cannot rebuild (the message names the layer and the reason).
    """
    with open(path, "rb") as f:
        try:
            data = _HatUnpickler(f, encoding="latin1").load()  # Python 2 str -> latin1 keeps bytes
        except Exception as err:
            raise LegacyFileError(
                f"{path!r} is neither a hat model file (HDF5) nor a readable "
                f"Hat pickle: {type(err).__name__}: {err}"
            ) from None
    if not isinstance(data, dict) or data.get("class_name") != "Model" or "atom_list" not in data:
        raise LegacyFileError(
            f"{path!r} is a pickle, but not of a Hat model; got a {type(data).__name__}"
            + (f" with keys {sorted(map(str, data))[:10]}" if isinstance(data, dict) else "")
            + " (expected a dict with class_name 'Model' and an atom_list)"
        )
    from hat.layers.lambda_layer import Lambda
    from hat.legacy_sequences import SWAP, cancel_swaps
    from hat.models import Model

    items = []
    for info in _chain(data, path):
        items.extend(_converted(info, path, custom_objects or {}))
    items = [
        (Lambda(swap_time_and_channels), {}) if item is SWAP else item
        for item in cancel_swaps(items)
    ]
    try:
        model = Model([layer for layer, _ in items], seed=0)
    except (ValueError, TypeError) as err:
        raise LegacyFileError(
            f"{path!r}: hat cannot rebuild this chain of Hat layers: {err}"
        ) from err
    for (_, weights), built in zip(items, model.layers, strict=True):
        for key, value in weights.items():
            _assign(built, key, value, path)
    model.epoch = int(data["info"].get("epoch", 0))
    model.iteration = int(data["info"].get("iter", 0))
    return model


def _assign(layer, key, value, path):
    target = layer.params.get(key, layer.state.get(key))
    value = np.asarray(value)
    if value.size != target.size:
        raise LegacyFileError(
            f"{path!r}: Hat's {key} of layer {layer.name!r} has shape {value.shape}; hat's "
            f"layer needs {target.shape}"
        )
    target[...] = value.astype(target.dtype).reshape(target.shape)


def _converted(info: dict, path, custom_objects: dict) -> list:
    """[(a hat layer, {param or state name: array}) or SWAP, ...] for one Hat layer info."""
    from hat import legacy_sequences

    kind = info.get("class_name")
    try:
        if kind == "Lambda":
            return [(_lambda(info, path, custom_objects), {})]
        if kind in legacy_sequences.CONVERTERS:
            return legacy_sequences.CONVERTERS[kind](info, path)
        return [_layer(info, path)]
    except KeyError as err:
        raise LegacyFileError(
            f"{path!r}: Hat's {kind} layer {info.get('name')!r} has no {err.args[0]!r} entry; "
            "it was written by a Hat version hat does not read"
        ) from None
    except (ValueError, TypeError) as err:
        if isinstance(err, LegacyFileError):
            raise
        raise LegacyFileError(
            f"{path!r}: Hat's {kind} layer {info.get('name')!r} cannot be rebuilt: {err}"
        ) from err


def _lambda(info, path, custom_objects):
    from hat.layers.lambda_layer import Lambda

    fn, name = info["fn"], info.get("name")
    if isinstance(fn, HatReference):
        fn = _function(fn, name, path, custom_objects)
    return Lambda(fn, name=name, **dict(info.get("kwargs") or {}))


def _function(ref: HatReference, layer_name, path, custom_objects):
    """A Lambda's function: from custom_objects (by layer or function name), else imported."""
    for key in (layer_name, ref.name, repr(ref)):
        if key in custom_objects:
            return custom_objects[key]
    try:
        if ref.module == "__main__":
            return getattr(sys.modules["__main__"], ref.name)
        return getattr(importlib.import_module(ref.module), ref.name)
    except Exception as err:  # a Python 2 module fails with a SyntaxError, say
        raise LegacyFileError(
            f"{path!r}: Hat's Lambda layer {layer_name!r} calls {ref!r}, which hat cannot find "
            f"({type(err).__name__}: {err}); write it with hat.backend and pass "
            f"custom_objects={{{ref.name!r}: {ref.name}}}"
        ) from None


def _chain(data, path) -> list[dict]:
    atoms = {atom["info"]["id"]: atom for atom in data["atom_list"]}
    in_ids = data["info"].get("in_ids", [])
    if len(in_ids) != 1:
        raise LegacyFileError(f"{path!r} has {len(in_ids)} inputs; hat reads single chains")
    chain, current = [], in_ids[0]
    while current is not None:
        atom = atoms[current]
        chain.append(atom["info"])
        nexts = atom.get("next_ids", [])
        if len(nexts) > 1:
            raise LegacyFileError(
                f"{path!r}: layer {atom['info'].get('name')} feeds "
                f"{len(nexts)} layers; hat reads single chains"
            )
        current = nexts[0] if nexts else None
    return chain


def _reg(info):
    from hat import regularizations

    return regularizations.get(info) if info else None


def _layer(info: dict, path):
    """(a hat layer, {param or state name: array}) for one of Hat's other layers."""
    from hat.layers import core

    kind, name = info["class_name"], info.get("name")
    if kind == "InputLayer":
        return core.InputLayer(info["in_shape"], name=name), {}
    if kind == "Dense":
        layer = core.Dense(
            info["n_out"],
            act=info["act"],
            init_type="zeros",
            W_reg=_reg(info.get("W_reg_info")),
            b_reg=_reg(info.get("b_reg_info")),
            trainable_params=info.get("trainable_params", ["W", "b"]),
            name=name,
        )
        return layer, {"W": info["W"], "b": info["b"]}
    if kind == "Dropout":
        return core.Dropout(info["p_drop"], name=name), {}
    if kind == "Flatten":
        return core.Flatten(name=name), {}
    if kind == "Activation":
        return core.Activation(info["act_func"], name=name), {}
    if kind == "Convolution2D":
        from hat.layers.conv import Conv2D

        layer = Conv2D(
            info["n_outfmaps"],
            info["n_row"],
            info["n_col"],
            act=info["act"],
            init_type="zeros",
            border_mode=_border(info["border_mode"]),
            strides=tuple(info.get("strides", (1, 1))),
            name=name,
        )
        kernel = np.asarray(info["W"])[:, :, ::-1, ::-1]  # Theano's true convolution
        return layer, {"W": kernel, "b": info["b"]}
    if kind in ("MaxPool2D", "Pool2D"):
        from hat.layers.pooling import AvgPool2D, MaxPool2D

        kwargs = dict(info.get("kwargs", {}))
        cls = AvgPool2D if kwargs.pop("pool_mode", "max") == "avg" else MaxPool2D
        return cls(pool_size=tuple(kwargs.get("pool_size", (2, 2))), name=name), {}
    if kind == "BN":
        from hat.layers.normalization import BatchNorm

        weights = {k: info[k] for k in ("gamma", "beta", "running_mean", "running_var")}
        return BatchNorm(axes=info.get("axes", 0), name=name), weights
    raise LegacyFileError(f"{path!r} holds a Hat {kind} layer, which hat cannot rebuild")


def _border(mode):
    return tuple(mode) if isinstance(mode, (list, tuple)) else mode
