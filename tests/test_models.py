"""Sequential, combine, and the Model API (apart from fit, in test_training.py)."""

import numpy as np
import pytest

from hat.layers.core import Dense, Dropout, Flatten, InputLayer, Reshape
from hat.models import Model, Sequential
from tests.helpers.toy import blobs, small_mlp


def hat_mlp():
    seq = Sequential()
    seq.add(InputLayer(784))
    seq.add(Dense(500, act="relu"))
    seq.add(Dropout(p_drop=0.2))
    seq.add(Dense(500, act="relu"))
    seq.add(Dropout(p_drop=0.2))
    seq.add(Dense(10, act="softmax"))
    return seq.combine(seed=1)


def test_summary_prints_hat_columns_and_total(capsys):
    hat_mlp().summary()
    out = capsys.readouterr().out
    assert "layer_name" in out and "out_shape" in out and "n_params" in out
    assert "Dense_1             (None, 500)         392,500" in out
    assert "Total params: 648,010" in out
    assert hat_mlp().count_params() == 648_010


def test_layer_names_follow_hat():
    md = hat_mlp()
    assert [layer.name for layer in md.layers] == [
        "InputLayer_0",
        "Dense_1",
        "Dropout_2",
        "Dense_3",
        "Dropout_4",
        "Dense_5",
    ]
    assert md.find_layer("Dense_3") is md.layers[3]
    with pytest.raises(KeyError, match="Dense_9"):
        md.find_layer("Dense_9")


def test_combine_rejects_dense_after_4d_output_naming_both_shapes():
    seq = Sequential()
    seq.add(InputLayer((1, 28, 28)))
    seq.add(Dense(10, act="softmax"))
    with pytest.raises(ValueError) as err:
        seq.combine()
    message = str(err.value)
    assert "(None, 1, 28, 28)" in message and "Dense_1" in message and "Flatten" in message


def test_flatten_then_dense_combines():
    seq = Sequential([InputLayer((1, 4, 4)), Flatten(), Dense(3, act="softmax")])
    md = seq.combine(seed=0)
    assert md.output_shape == (3,)
    assert md.predict(np.zeros((2, 1, 4, 4), np.float32)).shape == (2, 3)


def test_reshape_rejects_impossible_shape():
    seq = Sequential([InputLayer(10), Reshape((3, 3))])
    with pytest.raises(ValueError, match="10 values per sample"):
        seq.combine()


def test_first_layer_must_be_input_layer():
    with pytest.raises(ValueError, match="InputLayer"):
        Sequential().add(Dense(3))
    with pytest.raises(TypeError, match="Layer"):
        Sequential().add("Dense")
    with pytest.raises(ValueError, match="empty"):
        Sequential().combine()


def test_same_layer_twice_rejected():
    dense = Dense(3)
    seq = Sequential([InputLayer(3), dense])
    with pytest.raises(ValueError, match="twice"):
        seq.add(dense)


def test_seed_from_numpy_global_state():
    np.random.seed(1515)
    a = small_mlp(seed=None)
    np.random.seed(1515)
    b = small_mlp(seed=None)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    np.random.seed(1516)
    c = small_mlp(seed=None)
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])


def test_params_live_in_the_flat_buffer():
    md = small_mlp()
    dense = md.layers[1]
    dense.params["W"][0, 0] = 42.0
    assert 42.0 in md._flat_params
    assert sum(stop - start for start, stop in md._segments) == md.count_params()


def test_get_and_set_weights_round_trip():
    a, b = small_mlp(seed=0), small_mlp(seed=1)
    b.set_weights(a.get_weights())
    x = blobs()[0]
    np.testing.assert_array_equal(a.predict(x), b.predict(x))
    # set_weights copies in place, so the optimizer's flat buffer sees the new values
    np.testing.assert_array_equal(b._flat_params, a._flat_params)


def test_set_weights_checks_count_and_shapes():
    md = small_mlp()
    weights = md.get_weights()
    with pytest.raises(ValueError, match="expects 4 arrays; got 3"):
        md.set_weights(weights[:3])
    weights[0] = np.zeros((2, 2))
    with pytest.raises(ValueError, match=r"weight 0 has shape \(2, 2\)"):
        md.set_weights(weights)


def test_predict_in_batches_equals_one_batch():
    md = small_mlp(dropout=0.5)
    x = blobs(n=37)[0]
    whole = md.predict(x, batch_size=None)
    np.testing.assert_allclose(md.predict(x, batch_size=5), whole, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(whole.sum(axis=1), 1.0, rtol=1e-5)


def test_predict_checks_input():
    md = small_mlp()
    with pytest.raises(ValueError, match=r"shape \(4, 7\).*\(None, 20\)"):
        md.predict(np.zeros((4, 7)))
    with pytest.raises(TypeError, match="dtype <U1"):
        md.predict(np.array([["a"] * 20]))
    with pytest.raises(ValueError, match="empty"):
        md.predict(np.zeros((0, 20)))
    with pytest.raises(ValueError, match="batch_size"):
        md.predict(np.zeros((4, 20)), batch_size=0)


def test_predict_accepts_other_dtypes_and_layouts():
    md = small_mlp()
    x = blobs(n=10)[0]
    expected = md.predict(x)
    np.testing.assert_allclose(md.predict(x.astype(np.float64)), expected, rtol=1e-6)
    np.testing.assert_allclose(md.predict(np.asfortranarray(x)), expected, rtol=1e-6)
    np.testing.assert_allclose(md.predict(x[:, ::-1][:, ::-1]), expected, rtol=1e-6)


def test_evaluate_returns_keras_shapes():
    md = small_mlp()
    x, y, labels = blobs()
    md.fit(x, y, batch_size=50, n_epochs=3, verbose=0, optimizer="adam")
    loss = md.evaluate(x, y)
    assert isinstance(loss, float) and loss > 0
    acc, err = md.evaluate(x, labels, metrics=["accuracy", "categorical_error"])
    assert acc == pytest.approx(1 - err)
    by_name = md.evaluate(x, y, metrics=["accuracy"], return_dict=True)
    assert by_name == {"accuracy": acc}


def test_evaluate_without_loss_needs_metrics():
    with pytest.raises(ValueError, match="metrics"):
        small_mlp().evaluate(*blobs()[:2])


def test_model_constructor_direct():
    md = Model([InputLayer(3), Dense(2, act="softmax")], seed=3)
    assert md.predict(np.ones((1, 3))).shape == (1, 2)
    assert md.epoch_ == 0 and md.iter_ == 0
