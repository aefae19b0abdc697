"""Hat's sequence layers (2016) from its pickles: Embedding, SimpleRnn, LSTM, Convolution1D,
MaxPool1D, GlobalMeanTimePool and GlobalMaxPool; GRU is refused.

Each converter takes a Hat layer's info dict and returns [(hat layer, {name: array}) or SWAP].
Hat's Convolution1D and MaxPool1D work channels first, (batch, n_fmaps, time), where hat's
1-D layers take (batch, time, channels): SWAP marks a swap of the two axes, so that between
layers the arrays are the ones Hat had, and two swaps in a row cancel.
"""

import numpy as np

from hat.legacy import LegacyFileError

SWAP = "swap the time and channel axes"
"""The marker a converter puts where the array's two last axes swap."""


def cancel_swaps(items: list) -> list:
    """The items with each pair of adjacent SWAPs dropped.

    Args:
        items (list): (layer, weights) pairs and SWAP markers, in the chain's order.

    Returns:
        list: The same items, no two SWAPs next to each other.
    """
    out = []
    for item in items:
        if item is SWAP and out and out[-1] is SWAP:
            out.pop()
        else:
            out.append(item)
    return out


def _refuse(info, path, reason):
    raise LegacyFileError(
        f"{path!r}: Hat's {info['class_name']} layer {info.get('name')!r} is not loaded: {reason}"
    )


def _reg(info, key):
    from hat import regularizations

    value = info.get(key)
    return regularizations.get(value) if value else None


def embedding(info, path):
    """Hat's Embedding: W (n_vocab, n_out), the same rows in hat (Hat kept no n_vocab).

    Args:
        info (dict): The layer's info from the pickle.
        path (str): The file, for messages.

    Returns:
        list: [(Embedding, {'W': W})].
    """
    from hat.layers.embedding import Embedding

    W = np.asarray(info["W"])
    if W.ndim != 2 or W.shape[1] != info["n_out"]:
        _refuse(info, path, f"its W has shape {W.shape}; expected (n_vocab, {info['n_out']})")
    layer = Embedding(W.shape[0], info["n_out"], W_reg=_reg(info, "W_reg_info"), name=info["name"])
    return [(layer, {"W": W})]


def simple_rnn(info, path):
    """Hat's SimpleRnn, h = act(x W + h H + b): hat's, with the same W, H, b.

    Hat's go_backwards reversed time here, as hat's does, and its masking did nothing (the
    code was commented out), so masking is dropped.

    Args:
        info (dict): The layer's info from the pickle.
        path (str): The file, for messages.

    Returns:
        list: [(SimpleRnn, {'W', 'H', 'b'})].
    """
    from hat.layers.recurrent import SimpleRnn

    layer = SimpleRnn(
        info["n_out"],
        act=info["act"],
        W_reg=_reg(info, "W_reg_info"),
        H_reg=_reg(info, "H_reg_info"),
        b_reg=_reg(info, "b_reg_info"),
        return_sequence=bool(info["return_sequence"]),
        go_backwards=bool(info["go_backwards"]),
        name=info["name"],
    )
    return [(layer, {k: info[k] for k in ("W", "H", "b")})]


def _trainable_groups(info, path):
    """Hat's twelve LSTM names in trainable_params as hat's W, H, b (each all or none)."""
    given = set(info.get("trainable_params", ()))
    keys = []
    for hat_key, hats in (("W", "W"), ("H", "U"), ("b", "b")):
        names = {hats + gate for gate in "gifo"}
        if names <= given:
            keys.append(hat_key)
        elif names & given:
            _refuse(
                info,
                path,
                f"it trains {sorted(names & given)} but not {sorted(names - given)}; hat "
                f"trains the four gates' {hat_key} as one matrix",
            )
    return keys


def lstm(info, path):
    """Hat's LSTM: LegacyLSTM, Hat's cell (h = o * c), its twelve arrays side by side.

    Hat kept W<gate> (n_in, n_out), U<gate> (n_out, n_out) and b<gate> apart for the gates
    g, i, f, o; hat's W, H, b hold them as [i | f | g | o] along the last axis.

    Args:
        info (dict): The layer's info from the pickle.
        path (str): The file, for messages.

    Returns:
        list: [(LegacyLSTM, {'W', 'H', 'b'})].

    Raises:
        LegacyFileError: go_backwards=True (Hat's reversed the batch axis, a bug), or a
            trainable_params that trains some gates' weights and not others.
    """
    from hat.layers.legacy_lstm import LegacyLSTM

    if info["go_backwards"]:
        _refuse(
            info,
            path,
            "go_backwards=True: Hat's LSTM reversed the batch axis instead of time (a bug), "
            "so each output belonged to another sample of the batch",
        )
    order = "ifgo"
    weights = {
        "W": np.concatenate([np.asarray(info["W" + g]) for g in order], axis=1),
        "H": np.concatenate([np.asarray(info["U" + g]) for g in order], axis=1),
        "b": np.concatenate([np.asarray(info["b" + g]).ravel() for g in order]),
    }
    layer = LegacyLSTM(
        info["n_out"],
        act=info["act"],
        gate_act=info["gate_act"],
        W_reg=_reg(info, "W_reg_info"),
        H_reg=_reg(info, "U_reg_info"),
        trainable_params=_trainable_groups(info, path),
        return_sequence=bool(info["return_sequence"]),
        masking=bool(info["masking"]),
        name=info["name"],
    )
    return [(layer, weights)]


def gru(info, path):
    """Hat's GRU is refused: its cell is not hat's.

    Args:
        info (dict): The layer's info from the pickle.
        path (str): The file, for messages.

    Raises:
        LegacyFileError: always.
    """
    _refuse(
        info,
        path,
        "Hat's GRU resets the state before the recurrent product, act(x W + (r * h) U + b) "
        "(and its gates are always sigmoid), while hat's GRU is PyTorch's, act(x W_n + b_n "
        "+ r * (h H_n + bH_n)); no mapping of the weights turns one into the other",
    )


def _conv1d_padding(info, path):
    mode = info["border_mode"]
    if mode in ("valid", "full"):
        return mode
    if isinstance(mode, (int, np.integer)) and not isinstance(mode, bool):
        return (int(mode), int(mode))
    if isinstance(mode, (tuple, list)) and len(mode) == 2 and mode[1] == 0:
        return (int(mode[0]), int(mode[0]))
    _refuse(
        info,
        path,
        f"border_mode {mode!r}: hat reads 'valid', 'full', an int p or (p, 0) (a second "
        "entry pads Theano's singleton width axis, which changes the output's length)",
    )


def convolution1d(info, path):
    """Hat's Convolution1D: Conv1D, its kernel flipped back, between SWAPs.

    Hat's conv ran Theano's conv2d, a true convolution. Before October 2016 (no border_mode
    in the info) it took (batch, time, n_in) with W (n_outfmaps, 1, len_filter, n_in), so
    the kernel is W[:, 0, ::-1, ::-1]; later, (batch, n_infmaps, time) with W (n_outfmaps,
    n_infmaps, len_filter, 1), so the kernel is W[:, :, ::-1, 0] with its axes
    (n_outfmaps, len_filter, n_in). Both gave (batch, n_outfmaps, time).

    Args:
        info (dict): The layer's info from the pickle.
        path (str): The file, for messages.

    Returns:
        list: [SWAP (late form only), (Conv1D, {'W', 'b'}), SWAP].
    """
    from hat.layers.conv1d import Conv1D

    W, n_out, k = np.asarray(info["W"]), info["n_outfmaps"], info["len_filter"]
    early = "border_mode" not in info
    if early:
        fits, layout = W.ndim == 4 and W.shape[:3] == (n_out, 1, k), "(n_outfmaps, 1, k, n_in)"
    else:
        fits = W.ndim == 4 and W.shape[0] == n_out and W.shape[2:] == (k, 1)
        layout = "(n_outfmaps, n_in, k, 1)"
    if not fits:
        _refuse(info, path, f"its W has shape {W.shape}; expected {layout} with k={k}")
    kernel = W[:, 0, ::-1, ::-1] if early else W[:, :, ::-1, 0].transpose(0, 2, 1)
    layer = Conv1D(
        n_out,
        k,
        act=info["act"],
        border_mode="valid" if early else _conv1d_padding(info, path),
        stride=1 if early else int(info.get("stride", 1)),
        W_reg=_reg(info, "W_reg_info"),
        b_reg=_reg(info, "b_reg_info"),
        name=info["name"],
    )
    pair = (layer, {"W": np.ascontiguousarray(kernel), "b": info["b"]})
    return [pair, SWAP] if early else [SWAP, pair, SWAP]


def max_pool1d(info, path):
    """Hat's MaxPool1D(pool_size=k) on (batch, n_fmaps, time): hat's between SWAPs.

    Args:
        info (dict): The layer's info from the pickle.
        path (str): The file, for messages.

    Returns:
        list: [SWAP, (MaxPool1D, {}), SWAP].
    """
    from hat.layers.pooling1d import MaxPool1D

    size = dict(info.get("kwargs") or {}).get("pool_size")
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool):
        _refuse(info, path, f"its kwargs {info.get('kwargs')!r} hold no int pool_size")
    return [SWAP, (MaxPool1D(int(size), name=info["name"]), {}), SWAP]


def global_mean_time_pool(info, path):
    """Hat's GlobalMeanTimePool: the mean over axis 1, masking=True over the steps with a
    nonzero feature (Hat's rule), as hat's.

    Args:
        info (dict): The layer's info from the pickle.
        path (str): The file, for messages.

    Returns:
        list: [(GlobalMeanTimePool, {})].
    """
    from hat.layers.pooling1d import GlobalMeanTimePool

    masking = bool(dict(info.get("kwargs") or {}).get("masking", False))
    return [(GlobalMeanTimePool(info["name"], masking=masking), {})]


def global_max_pool(info, path):
    """Hat's GlobalMaxPool(axis=a) on a 3-D array: hat's (axis 1), after a SWAP for a = 2.

    Args:
        info (dict): The layer's info from the pickle.
        path (str): The file, for messages.

    Returns:
        list: [(GlobalMaxPool, {})] or [SWAP, (GlobalMaxPool, {})].
    """
    from hat.layers.pooling1d import GlobalMaxPool

    axis = dict(info.get("kwargs") or {}).get("axis")
    if axis not in (1, 2, -1) or isinstance(axis, bool):
        _refuse(info, path, f"axis {axis!r}: hat reduces axis 1 or 2 of (batch, a, b)")
    pool = (GlobalMaxPool(info["name"], axis=1), {})
    return [pool] if axis == 1 else [SWAP, pool]


CONVERTERS = {
    "Embedding": embedding,
    "SimpleRnn": simple_rnn,
    "LSTM": lstm,
    "GRU": gru,
    "Convolution1D": convolution1d,
    "MaxPool1D": max_pool1d,
    "GlobalMeanTimePool": global_mean_time_pool,
    "GlobalMaxPool": global_max_pool,
}
"""Hat's class name -> its converter."""
