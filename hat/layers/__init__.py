"""Layers. Hat's import paths (hat.layers.core, ...) are kept."""

from hat.layers.base import Layer
from hat.layers.core import Activation, Dense, Dropout, Flatten, InputLayer, Reshape

__all__ = ["Activation", "Dense", "Dropout", "Flatten", "InputLayer", "Layer", "Reshape"]
