"""Graph models: building, training, predicting, evaluating, saving, and the errors."""

import numpy as np
import pytest

from hat.graph import GraphError
from hat.layers import Add, Concatenate, Dense, Dropout, Input, Merge
from hat.layers.core import InputLayer
from hat.models import Model, Sequential, load_model
from hat.optimizers import Adam

RNG = np.random.default_rng(11)


def _data(n=64, d=6, k=3):
    x = RNG.standard_normal((n, d)).astype(np.float32)
    return x, np.eye(k, dtype=np.float32)[RNG.integers(0, k, n)]


def _chain_layers():
    return [Dense(8, act="relu"), Dropout(0.2), Dense(3, act="softmax")]


def test_a_functional_chain_trains_bit_identically_to_sequential():
    x, y = _data()
    seq = Sequential()
    seq.add(InputLayer(6))
    for layer in _chain_layers():
        seq.add(layer)
    a = seq.combine(seed=7)
    inp = InputLayer(6)
    node = inp
    for layer in _chain_layers():
        node = layer(node)
    b = Model(in_layers=[inp], out_layers=[node], seed=7)
    for md in (a, b):
        md.fit(x, y, batch_size=16, n_epochs=3, optimizer=Adam(1e-2), verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        assert np.array_equal(wa, wb)
    assert np.array_equal(a.predict(x), b.predict(x))


def test_keras_style_inputs_and_outputs():
    inputs = Input(6)
    outputs = Dense(3, act="softmax")(Dense(4, act="relu")(inputs))
    md = Model(inputs=inputs, outputs=outputs, seed=0)
    assert outputs.shape == (None, 3) and outputs.out_shape_ == (None, 3)
    x, y = _data()
    history = md.fit(x, y, batch_size=32, n_epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert md.predict(x).shape == (64, 3)


def test_several_inputs_and_outputs_in_fit_predict_evaluate():
    a, b = Input(6), Input(2)
    h = Dense(5, act="relu", name="h")(a)
    y1 = Dense(3, act="softmax", name="y1")(Merge()([h, b]))
    y2 = Dense(1, act="linear", name="y2")(h)
    md = Model([a, b], [y1, y2], seed=1)
    x, y = _data()
    xb = RNG.standard_normal((64, 2)).astype(np.float32)
    target2 = RNG.standard_normal((64, 1)).astype(np.float32)
    before = md.evaluate([x, xb], [y, target2], metrics=["mse"], return_dict=True)
    md.fit([x, xb], [y, target2], loss_func=["categorical_crossentropy", "mse"], n_epochs=5,
           batch_size=16, optimizer=Adam(1e-2), verbose=0)  # fmt: skip
    after = md.evaluate([x, xb], [y, target2], metrics=["mse"], return_dict=True)
    assert set(after) == {"y1_mse", "y2_mse"}
    assert after["y2_mse"] < before["y2_mse"]
    pred = md.predict([x, xb])
    assert isinstance(pred, list) and [p.shape for p in pred] == [(64, 3), (64, 1)]


def test_an_unused_branch_gets_no_stale_gradient():
    x = Input(4)
    used = Dense(2, act="softmax")(x)
    unused = Dense(3, act="linear", name="unused")(x)
    md = Model([x], [used], any_layers=[unused], seed=0)
    before = md.find_layer("unused").W_.copy()
    md.fit(*_data(d=4, k=2), n_epochs=2, batch_size=8, optimizer=Adam(1e-2), verbose=0)
    assert np.array_equal(md.find_layer("unused").W_, before)


def test_summary_names_what_each_layer_reads(capsys):
    x = Input(4, name="x")
    a = Dense(3, act="relu", name="a")(x)
    b = Dense(3, act="relu", name="b")(x)
    Model([x], [Add(name="sum")([a, b])], seed=0).summary()
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("sum"))
    assert row.split()[-2:] == ["a,", "b"]


def test_save_and_load_a_graph_model(tmp_path):
    x1, x2 = Input(4), Input(4)
    shared = Dense(3, act="tanh", name="shared")
    out = Dense(2, act="softmax")(Concatenate()([shared(x1), shared(x2)]))
    md = Model([x1, x2], [out], seed=3)
    data = [RNG.standard_normal((10, 4)).astype(np.float32) for _ in range(2)]
    md.fit(data, _data(10, 4, 2)[1], n_epochs=1, batch_size=5, verbose=0)
    md.save(tmp_path / "g.h5")
    back = load_model(tmp_path / "g.h5")
    assert [type(layer).__name__ for layer in back.layers] == [
        type(layer).__name__ for layer in md.layers
    ]
    assert np.array_equal(back.predict(data), md.predict(data))
    assert back.count_params() == md.count_params()


def test_a_layer_shared_between_two_models_keeps_one_set_of_weights():
    inp = Input(4)
    code = Dense(2, act="tanh", name="code")(inp)
    out = Dense(4, act="linear")(code)
    autoencoder = Model([inp], [out], seed=0)
    x = RNG.standard_normal((32, 4)).astype(np.float32)
    autoencoder.fit(x, x, loss_func="mse", n_epochs=2, batch_size=8, verbose=0)
    trained = autoencoder.find_layer("code").W_.copy()
    encoder = Model([inp], [code], seed=1)
    assert np.array_equal(encoder.find_layer("code").W_, trained)  # not drawn again
    autoencoder.fit(x, x, loss_func="mse", n_epochs=1, batch_size=8, verbose=0)
    moved = encoder.find_layer("code").W_
    assert not np.array_equal(moved, trained)  # the autoencoder still trains the shared layer
    np.testing.assert_allclose(
        encoder.predict(x), np.tanh(x @ encoder.find_layer("code").W_ + encoder.find_layer(
            "code").b_), rtol=1e-5, atol=1e-6)  # fmt: skip


# -- errors ---------------------------------------------------------------------------------
def test_the_errors_name_the_layers_and_shapes():
    x = Input(4)
    with pytest.raises(GraphError, match=r"cannot be called on .*\(None, 2, 2\).*2-D"):
        Dense(3, name="d")(Input((2, 2)))
    with pytest.raises(TypeError, match="must be the output of a layer call or an InputLayer"):
        Dense(3)(np.zeros((2, 4)))
    with pytest.raises(TypeError, match="has not been called on anything"):
        Dense(3)(Dense(4))
    with pytest.raises(GraphError, match="not an InputLayer"):
        Model([Dense(3)(x)], [Dense(2)(x)])
    other = Input(4, name="other")
    with pytest.raises(GraphError, match="depends on other, which is not among the model's inputs"):
        Model([x], [Add()([Dense(2)(x), Dense(2)(other)])])
    with pytest.raises(GraphError, match=r"first called on shape \(None, 4\).*\(None, 3\)"):
        shared = Dense(2)
        shared(x)
        shared(Input(3))
    with pytest.raises(GraphError, match="takes one input; got a list of 2"):
        Dense(2)([x, x])
    with pytest.raises(GraphError, match="needs inputs of one shape"):
        Add()([x, Input(3)])
    with pytest.raises(TypeError, match="needs its inputs and outputs"):
        Model()


def test_a_cycle_is_refused():
    x = Input(4)
    a = Dense(4)(x)
    b = Dense(4)(a)
    a.inputs = [b]  # a graph edited by hand (or a damaged file) that loops
    with pytest.raises(GraphError, match="cycle"):
        Model([x], [b])


def test_a_list_of_targets_must_match_the_outputs():
    x = Input(4)
    md = Model([x], [Dense(2, act="softmax")(x), Dense(1)(x)], seed=0)
    with pytest.raises(ValueError, match="y is a list of 3 arrays; the model has 2 outputs"):
        md.fit(np.ones((4, 4)), [np.eye(2)[[0, 1, 0, 1]]] * 3, loss_func="mse", verbose=0)
    second = Input(2)
    two = Model([x, second], [Concatenate()([x, second])], seed=0)
    with pytest.raises(ValueError, match="the model has 2 inputs; give x as a list of 2"):
        two.predict(np.ones((3, 4)))


def test_a_lambda_typed_inline_loads_only_through_custom_objects(tmp_path):
    import hat.backend as K
    from hat.layers import Lambda
    from hat.layers.lambda_layer import LambdaError

    x = Input(4)
    halve = Lambda(lambda input: K.sqr(input) * 0.5, name="halve")
    md = Model([x], [Dense(2, act="softmax")(halve(x))], seed=0)
    md.save(tmp_path / "m.h5")
    with pytest.raises(ValueError, match=r"Lambda 'halve' calls .*<lambda>.*cannot be imported"):
        load_model(tmp_path / "m.h5")
    back = load_model(tmp_path / "m.h5", custom_objects={"halve": lambda input: input**2 * 0.5})
    data = RNG.standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(back.predict(data), md.predict(data), rtol=1e-6)
    assert issubclass(LambdaError, ValueError)
