"""Layers. Hat's import paths (hat.layers.core, ...) are kept."""

from hat.layers.base import Layer
from hat.layers.conv import Conv2D, Convolution2D, ZeroPadding2D
from hat.layers.conv1d import Conv1D, Convolution1D
from hat.layers.core import Activation, Dense, Dropout, Flatten, InputLayer, Reshape
from hat.layers.embedding import Embedding
from hat.layers.normalization import BN, BatchNorm
from hat.layers.pooling import (
    AveragePooling2D,
    AvgPool2D,
    GlobalAveragePooling2D,
    GlobalAvgPool2D,
    MaxPool2D,
    MaxPooling2D,
    Pool2D,
)
from hat.layers.pooling1d import (
    AveragePooling1D,
    AvgPool1D,
    GlobalAveragePooling1D,
    GlobalAvgPool1D,
    GlobalMaxPool,
    GlobalMaxPool1D,
    GlobalMaxPooling1D,
    GlobalMeanTimePool,
    MaxPool1D,
    MaxPooling1D,
)
from hat.layers.recurrent import GRU, LSTM, Bidirectional, RnnBase, SimpleRNN, SimpleRnn
from hat.layers.recurrent_state import RnnState

__all__ = [
    # sequences, non-recurrent
    "AveragePooling1D",
    "AvgPool1D",
    "Conv1D",
    "Convolution1D",
    "Embedding",
    "GlobalAveragePooling1D",
    "GlobalAvgPool1D",
    "GlobalMaxPool",
    "GlobalMaxPool1D",
    "GlobalMaxPooling1D",
    "GlobalMeanTimePool",
    "MaxPool1D",
    "MaxPooling1D",
    "Activation",
    "AveragePooling2D",
    "AvgPool2D",
    "BN",
    "BatchNorm",
    "Conv2D",
    "Convolution2D",
    "Dense",
    "Dropout",
    "Flatten",
    "GlobalAveragePooling2D",
    "GlobalAvgPool2D",
    "InputLayer",
    "Layer",
    "MaxPool2D",
    "MaxPooling2D",
    "Pool2D",
    "Reshape",
    # recurrent
    "Bidirectional",
    "GRU",
    "LSTM",
    "RnnBase",
    "RnnState",
    "SimpleRNN",
    "SimpleRnn",
    "ZeroPadding2D",
]

# Graph models: Keras' Input, the merge layers and Lambda.
from hat.graph import Input  # noqa: E402
from hat.layers.lambda_layer import Lambda  # noqa: E402
from hat.layers.merge import (  # noqa: E402
    Add,
    Average,
    Concatenate,
    Maximum,
    Merge,
    Multiply,
    Subtract,
)

__all__ += [
    "Add",
    "Average",
    "Concatenate",
    "Input",
    "Lambda",
    "Maximum",
    "Merge",
    "Multiply",
    "Subtract",
]

# The original Hat's LSTM cell, which models read from Hat's pickles hold: imported so that a
# model file holding one finds its class (it is not one of the names above).
from hat.layers import legacy_lstm  # noqa: E402, F401
