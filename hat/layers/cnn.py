"""Hat's import path for the convolution layers."""

from hat.layers.conv import Conv2D, Convolution2D, ZeroPadding2D  # noqa: F401
from hat.layers.conv1d import Conv1D, Convolution1D  # noqa: F401
