"""A Dropout folded into the Dense before it, in training (hat.layers.core.fold_dropouts): which
pairs fold, and training, prediction and the gradients bit for bit those of the separate
layers."""

import numpy as np
import pytest

from hat.layers import Concatenate, Input
from hat.layers.core import Dense, Dropout, InputLayer, fold_dropouts
from hat.models import Model, Sequential
from hat.optimizers import Adam


def _mlp(act="relu", p_drop=0.3, seed=5):
    seq = Sequential()
    for layer in (
        InputLayer(6),
        Dense(16, act=act),
        Dropout(p_drop),
        Dense(16, act=act),
        Dropout(p_drop),
        Dense(3, act="softmax"),
    ):
        seq.add(layer)
    return seq.combine(seed=seed)


def _unfold(model):
    for layer in model.layers:
        if isinstance(layer, Dense):
            layer.folded_dropout = None
        if isinstance(layer, Dropout):
            layer.folded_into = None


def _data(n=40):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    return x, np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)]


@pytest.mark.parametrize("act", ["relu", "linear", "leaky_relu"])
def test_training_is_the_separate_layers_bit_for_bit(act):
    folded, plain = _mlp(act), _mlp(act)
    _unfold(plain)
    assert folded.layers[1].folded_dropout is folded.layers[2]
    assert folded.layers[2].folded_into is folded.layers[1]
    assert folded.layers[3].folded_dropout is folded.layers[4]
    x, y = _data()
    for model in (folded, plain):
        model.fit(x, y, batch_size=8, n_epochs=2, verbose=0, optimizer=Adam(1e-2),
                  loss_func="categorical_crossentropy")  # fmt: skip
    for a, b in zip(folded.layers, plain.layers, strict=True):
        for key in a.params:
            np.testing.assert_array_equal(a.params[key], b.params[key], err_msg=f"{a.name} {key}")
    np.testing.assert_array_equal(folded.predict(x), plain.predict(x))


def test_the_gradients_are_the_separate_layers():
    folded, plain = _mlp(), _mlp()
    _unfold(plain)
    x, y = _data(12)
    for model in (folded, plain):
        model.forward(x, training=True)
        model.backward(np.ones((12, 3), np.float32) / 12)
    for a, b in zip(folded.layers, plain.layers, strict=True):
        for key in a.grads:
            np.testing.assert_array_equal(a.grads[key], b.grads[key], err_msg=f"{a.name} {key}")
    drop = folded.layers[2]
    mask = drop._buffers["mask"].reshape(12, 16)
    assert 0 < np.count_nonzero(mask == 0) < mask.size  # some units dropped, not all
    np.testing.assert_array_equal(folded.layers[1]._y[mask == 0], 0)


def test_pairs_that_do_not_fold():
    # an activation whose slope needs the undropped output
    assert _mlp("sigmoid").layers[1].folded_dropout is None
    assert _mlp("tanh").layers[1].folded_dropout is None
    # the Dense's output read by a second layer too
    inp = Input(6)
    h = Dense(8, act="relu")(inp)
    out = Dense(2, act="softmax")(Concatenate()([Dropout(0.5)(h), h]))
    model = Model([inp], [out], seed=0)
    dense = next(layer for layer in model.layers if isinstance(layer, Dense))
    assert dense.folded_dropout is None
    # the Dropout is the model's output
    model = Sequential([InputLayer(4), Dense(3, act="relu"), Dropout(0.5)]).combine(seed=0)
    assert model.layers[1].folded_dropout is None
    # the Dropout's node not right after the Dense's: its draw would move
    inp = Input(6)
    a, b = Dense(4, act="relu", name="a")(inp), Dense(4, act="relu", name="b")(inp)
    out = Concatenate()([Dropout(0.5)(a), Dropout(0.5)(b)])
    model = Model([inp], [Dense(2, act="softmax")(out)], seed=0)
    order = [node.layer for node in model.nodes]
    for dense in (
        layer for layer in model.layers if isinstance(layer, Dense) and layer.name in "ab"
    ):
        follows = order[order.index(dense) + 1]
        assert (dense.folded_dropout is not None) == isinstance(follows, Dropout)


def test_no_dropout_and_inference_pass_through():
    model = _mlp(p_drop=0.0)
    x, y = _data(10)
    model.train_on_batch(x, y, "categorical_crossentropy", Adam(1e-3))  # p_drop 0: no mask
    assert model.layers[1]._drop_mask is None
    model, plain = _mlp(), _mlp()
    _unfold(plain)
    model.forward(x, training=False)
    assert model.layers[1]._drop_mask is None
    np.testing.assert_array_equal(model.predict(x), model.predict(x))  # no dropout
    np.testing.assert_array_equal(model.predict(x), plain.predict(x))


def test_refolding_undoes_the_earlier_fold():
    model = _mlp()
    dense, drop = model.layers[1], model.layers[2]
    assert fold_dropouts(model.nodes, model.out_nodes) == 2
    assert dense.folded_dropout is drop and drop.folded_into is dense
    assert fold_dropouts(model.nodes, model.out_nodes + [model.nodes[2]]) == 1
    assert dense.folded_dropout is None and drop.folded_into is None
