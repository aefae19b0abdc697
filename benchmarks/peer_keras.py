"""Keras 3 on JAX as a benchmark peer: the same models as hat's, in Keras' native NHWC layout.

Keras and JAX are installed for the benchmarks only, never as hat's dependencies:

    pip install keras "jax[cpu]"

The runners use Keras' default settings through its public API (`fit`, `predict`): the JAX
backend compiles the whole training step and the prediction with XLA (jit_compile="auto").
Importing this module sets KERAS_BACKEND=jax before Keras is loaded; do it before anything
imports keras.
"""

from __future__ import annotations

import os
from typing import Any

INSTALL_HINT = 'pip install keras "jax[cpu]"'


def import_keras() -> str | None:
    """Keras' version when Keras 3 on JAX is importable, else None."""
    os.environ["KERAS_BACKEND"] = "jax"
    try:
        import jax  # noqa: F401
        import keras
    except ImportError:
        return None
    if keras.backend.backend() != "jax":  # keras was imported earlier with another backend
        return None
    return keras.__version__


def versions() -> str:
    """'keras X, jax Y' for the header."""
    import jax
    import keras

    return f"keras {keras.__version__}, jax {jax.__version__}"


class KerasRunner:
    """A Keras model trained with `fit` (one epoch a call) and run with `predict`.

    Args:
        model: the built keras.Model (softmax output, as hat's).
        optimizer: a keras optimizer instance; its state carries over between calls.
        batch: training batch size.
        infer_batch: prediction batch size.
        x: training inputs, NHWC for images.
        y: training labels (int64 class indices).
        x_test: prediction inputs.
    """

    name = "keras-jax"

    def __init__(self, model, optimizer, batch: int, infer_batch: int, x, y, x_test) -> None:
        import keras

        model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy())
        self.model, self.batch, self.infer_batch = model, batch, infer_batch
        self.x, self.y, self.x_test = x, y, x_test

    def train(self, n: int) -> None:
        """One epoch over the first n samples (shuffled by Keras, as hat's fit shuffles)."""
        self.model.fit(self.x[:n], self.y[:n], batch_size=self.batch, epochs=1, verbose=0)

    def predict(self, n: int) -> None:
        """Probabilities for the first n test samples."""
        self.model.predict(self.x_test[:n], batch_size=self.infer_batch, verbose=0)


def mlp(sizes: tuple[int, ...], p_drop: float, lr: float, seed: int) -> tuple[Any, Any]:
    """(model, optimizer): Dense relu + Dropout between, softmax out, Adam.

    Args:
        sizes: layer widths, input first.
        p_drop: dropout probability after each hidden layer.
        lr: Adam's learning rate.
        seed: keras.utils.set_random_seed's seed.
    """
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    stack: list[Any] = [keras.Input((sizes[0],))]
    for n_out in sizes[1:-1]:
        stack += [layers.Dense(n_out, activation="relu"), layers.Dropout(p_drop)]
    stack.append(layers.Dense(sizes[-1], activation="softmax"))
    return keras.Sequential(stack), keras.optimizers.Adam(learning_rate=lr)


def cnn(name: str, l2: float, seed: int) -> tuple[Any, Any]:
    """(model, optimizer) for bench_cnn's 'scratch' or 'bn' model, NHWC (28, 28, 1) input.

    Args:
        name: 'scratch' (5x5 convolutions, L2 on the weights, SGD Nesterov) or 'bn' (3x3
            convolutions without bias, BatchNorm after each, Adam).
        l2: the L2 factor of 'scratch' (Keras' L2 adds l2 * sum(W**2), as hat's does).
        seed: keras.utils.set_random_seed's seed.
    """
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    if name == "scratch":
        reg = keras.regularizers.L2(l2)
        model = keras.Sequential([
            keras.Input((28, 28, 1)),
            layers.Conv2D(16, 5, padding="same", activation="relu", kernel_regularizer=reg),
            layers.MaxPooling2D(2),
            layers.Conv2D(32, 5, padding="same", activation="relu", kernel_regularizer=reg),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(120, activation="relu", kernel_regularizer=reg),
            layers.Dense(10, activation="softmax", kernel_regularizer=reg),
        ])  # fmt: skip
        return model, keras.optimizers.SGD(learning_rate=0.01, momentum=0.9, nesterov=True)
    stack: list[Any] = [keras.Input((28, 28, 1))]
    for filters in (32, 64):
        stack += [
            layers.Conv2D(filters, 3, use_bias=False),
            layers.BatchNormalization(momentum=0.9, epsilon=1e-3),
            layers.ReLU(),
            layers.MaxPooling2D(2),
        ]
    stack += [
        layers.Flatten(),
        layers.Dense(150, use_bias=False),
        layers.BatchNormalization(momentum=0.9, epsilon=1e-3),
        layers.ReLU(),
        layers.Dense(10, activation="softmax"),
    ]
    return keras.Sequential(stack), keras.optimizers.Adam(learning_rate=1e-3)
