"""Reading the original Hat's model pickles (md<N>_epochs.p), so old weights come over.

Hat (Python 2, Theano) pickled a dict: {'class_name': 'Model', 'info': {'epoch', 'iter',
'in_ids', 'out_ids', ...}, 'atom_list': [{'info': <layer info>, 'prev_ids', 'next_ids'}]},
each layer info holding its config and its numpy weights. Only chains of layers (what
Sequential builds) are read. Theano's conv2d flips its kernels; they are flipped back here.
"""

import pickle

import numpy as np


class LegacyFileError(ValueError):
    """The pickle is not a Hat model, or holds a layer or graph that hat cannot rebuild."""


def load_hat_pickle(path):
    """Rebuild a model from the original Hat's pickle, with its weights and counters.

    Args:
        path (str | os.PathLike): Hat's `md<N>_epochs.p`.

    Returns:
        Model: The model, its epoch and iteration counters as Hat saved them.

    Raises:
        LegacyFileError: The file is not a readable pickle of a Hat model, or holds a layer
            or a graph that hat cannot rebuild.
    """
    with open(path, "rb") as f:
        try:
            data = pickle.load(f, encoding="latin1")  # Python 2 str -> latin1 keeps bytes
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
    infos = _chain(data, path)
    from hat.models import Model

    layers = [_layer(info, path) for info in infos]
    model = Model([layer for layer, _ in layers], seed=0)
    for (_, weights), built in zip(layers, model.layers, strict=True):
        for key, value in weights.items():
            target = built.params.get(key, built.state.get(key))
            target[...] = np.asarray(value, dtype=target.dtype).reshape(target.shape)
    model.epoch = int(data["info"].get("epoch", 0))
    model.iteration = int(data["info"].get("iter", 0))
    return model


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
    """(a hat layer, {param or state name: array}) for one Hat layer info."""
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
