"""Hat's import path for the embedding layer."""

from hat.layers.embedding import Embedding  # noqa: F401
