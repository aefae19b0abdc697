"""Hat's import path for the pooling layers."""

from hat.layers.pooling import (  # noqa: F401
    AveragePooling2D,
    AvgPool2D,
    GlobalAveragePooling2D,
    GlobalAvgPool2D,
    MaxPool2D,
    MaxPooling2D,
    Pool2D,
)
from hat.layers.pooling1d import (  # noqa: F401
    AvgPool1D,
    GlobalMaxPool,
    GlobalMeanTimePool,
    MaxPool1D,
    MaxPooling1D,
)
