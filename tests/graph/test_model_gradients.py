"""Whole-model gradient checks (float64 finite differences of the training loss against what
the update did), for chains and graphs, and a meta-test that known mutations fail them."""

import numpy as np
import pytest

from hat.layers import (
    Activation,
    Add,
    Average,
    BatchNorm,
    Concatenate,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Input,
    Maximum,
    MaxPool2D,
    Multiply,
    Subtract,
)
from hat.models import Model, Sequential
from hat.regularizations import L1, L2
from tests.helpers.model_gradcheck import model_gradient_error

TOLERANCE = 1e-6
RNG = np.random.default_rng(5)


def _onehot(n, k):
    return np.eye(k)[RNG.integers(0, k, n)]


def _mlp(seed=0):
    seq = Sequential()
    seq.add(Input(5).layer)
    seq.add(Dense(6, act="tanh", W_reg=L2(0.01), b_reg=L1(0.02)))
    seq.add(Dropout(0.3))
    seq.add(Dense(4, act="sigmoid", W_reg=L1(0.01)))
    seq.add(Dense(3, act="softmax"))
    return seq.combine(seed=seed, dtype=np.float64)


def test_chain_mlp_with_regularizers_and_dropout():
    md = _mlp()
    x = RNG.standard_normal((7, 5))
    assert model_gradient_error(md, x, _onehot(7, 3), "categorical_crossentropy") < TOLERANCE


def test_chain_cnn_with_batchnorm():
    seq = Sequential()
    seq.add(Input((1, 6, 6)).layer)
    seq.add(Conv2D(3, 3, 3, act="linear", border_mode=(1, 1)))
    seq.add(BatchNorm())
    seq.add(Activation("tanh"))
    seq.add(MaxPool2D(pool_size=(2, 2)))
    seq.add(Flatten())
    seq.add(Dense(3, act="softmax"))
    md = seq.combine(seed=1, dtype=np.float64)
    x = RNG.standard_normal((4, 1, 6, 6))
    assert model_gradient_error(md, x, _onehot(4, 3), "categorical_crossentropy") < TOLERANCE


def test_fan_out_and_fan_in():
    x = Input(4)
    a = Dense(5, act="tanh")(x)
    b = Dense(5, act="sigmoid")(a)
    c = Dense(5, act="tanh")(a)
    joined = Concatenate()([Add()([b, c]), a, Subtract()([b, c])])
    mixed = Concatenate()([Multiply()([b, c, a]), Average()([b, c]), Maximum()([b, c])])
    out = Dense(3, act="softmax")(Concatenate()([joined, mixed]))
    md = Model(inputs=x, outputs=out, seed=2, dtype=np.float64)
    data = RNG.standard_normal((6, 4))
    assert model_gradient_error(md, data, _onehot(6, 3), "categorical_crossentropy") < TOLERANCE


def test_two_outputs_with_summed_losses():
    x1, x2 = Input(4), Input(3)
    h = Dense(5, act="tanh")(x1)
    y1 = Dense(2, act="softmax")(Concatenate()([h, x2]))
    y2 = Dense(2, act="linear")(h)
    md = Model([x1, x2], [y1, y2], seed=3, dtype=np.float64)
    data = [RNG.standard_normal((5, 4)), RNG.standard_normal((5, 3))]
    targets = [_onehot(5, 2), RNG.standard_normal((5, 2))]
    for loss in (["categorical_crossentropy", "mse"], "mse"):
        assert model_gradient_error(md, data, targets, loss) < TOLERANCE


def test_a_layer_called_twice_shares_its_weights():
    x1, x2 = Input(4), Input(4)
    shared = Dense(4, act="tanh")
    h1, h2 = shared(x1), shared(x2)
    again = shared(Add()([h1, h2]))  # a third call, on its own output's sum
    out = Dense(2, act="softmax")(again)
    md = Model([x1, x2], [out], seed=4, dtype=np.float64)
    assert len(md.layers) == 5 and md.count_params() == 4 * 4 + 4 + 4 * 2 + 2
    data = [RNG.standard_normal((5, 4)), RNG.standard_normal((5, 4))]
    assert model_gradient_error(md, data, _onehot(5, 2), "categorical_crossentropy") < TOLERANCE


def test_an_output_that_another_layer_reads():
    x = Input(4)
    h = Dense(3, act="softmax")(x)  # an output, and read by the next layer
    y = Dense(2, act="sigmoid")(h)
    md = Model([x], [h, y], seed=5, dtype=np.float64)
    assert not md._fusable_output(0, md._plan("categorical_crossentropy").per_output[0])
    data = RNG.standard_normal((5, 4))
    targets = [_onehot(5, 3), RNG.random((5, 2))]
    loss = ["categorical_crossentropy", "binary_crossentropy"]
    assert model_gradient_error(md, data, targets, loss) < TOLERANCE


# -- the meta-test: the check catches what the suite used to miss ---------------------------
def test_a_regularizer_gradient_that_never_reaches_the_update_fails(monkeypatch):
    from hat import models

    def lost(self):
        return sum(
            reg.penalize(layer.params[key], None)
            for layer in self.layers
            for key, reg in layer.regularizers.items()
        )

    monkeypatch.setattr(models.Model, "_apply_regularizers", lost)
    md = _mlp()
    x = RNG.standard_normal((7, 5))
    assert model_gradient_error(md, x, _onehot(7, 3), "categorical_crossentropy") > 1e-3


def test_a_backward_that_skips_the_first_trainable_layer_fails():
    md = _mlp()
    first = next(s for s in md._program.steps if s.runner.trainable)
    first.needs_grad = False  # the mutation: backward stops before the first trainable layer
    x = RNG.standard_normal((7, 5))
    assert model_gradient_error(md, x, _onehot(7, 3), "categorical_crossentropy") > 1e-3


def test_the_check_refuses_float32():
    md = Sequential([Input(2).layer, Dense(2, act="softmax")]).combine(seed=0)
    with pytest.raises(AssertionError):
        model_gradient_error(md, np.ones((2, 2)), np.eye(2), "categorical_crossentropy")


# -- with hat.backend on the tape: Lambda, Hat's loss_func(md), Keras' loss(y_true, y_pred) --
def test_lambdas_with_one_and_two_inputs_and_slicing():
    import hat.backend as K
    from hat.layers import Lambda

    x = Input(6)
    a, b = Dense(5, act="tanh")(x), Dense(5, act="sigmoid")(x)
    mixed = Lambda(lambda inputs: inputs[0] * inputs[1] + K.exp(inputs[0][:, :2]).sum() * 0.1)(
        [a, b]
    )
    mean = Lambda(lambda input: K.mean(input, axis=1, keepdims=True))(mixed)
    wide = Lambda(lambda input: K.concatenate([input, input[:, ::-1] * 2.0], axis=1))(mean)
    md = Model([x], [Dense(2, act="softmax")(wide)], seed=1, dtype=np.float64)
    data = RNG.standard_normal((5, 6))
    assert model_gradient_error(md, data, _onehot(5, 2), "categorical_crossentropy") < TOLERANCE


def test_hat_loss_of_the_model_reading_any_layers():
    import hat.backend as K
    import hat.objectives as obj
    from hat.layers.core import InputLayer

    lay_in = InputLayer(6)
    a1 = Dense(4, act="sigmoid", name="a1")(lay_in)
    a2 = Dense(6, act="sigmoid", name="a2")(a1)
    md = Model(in_layers=[lay_in], out_layers=[a1], any_layers=[a2], seed=2, dtype=np.float64)

    def loss_total(md):
        mse = obj.mse(md.any_nodes_[0], md.gt_nodes_[0])
        return mse + obj.kl_divergence(K.mean(md.out_nodes_[0], axis=0), 0.05 * np.ones(4))

    data = RNG.random((7, 6))
    assert model_gradient_error(md, data, data, loss_total) < TOLERANCE


def test_keras_loss_of_targets_and_predictions():
    import hat.backend as K

    def squared(y_true, y_pred):
        return K.mean(K.sum(K.sqr(y_pred - y_true), axis=1))

    x = Input(3)
    md = Model([x], [Dense(2, act="tanh")(x), Dense(1)(x)], seed=3, dtype=np.float64)
    data = RNG.standard_normal((4, 3))
    targets = [RNG.standard_normal((4, 2)), RNG.standard_normal((4, 1))]
    assert model_gradient_error(md, data, targets, squared) < TOLERANCE
