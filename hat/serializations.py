"""Hat's names for saving and loading a whole model: save(md, path), load(path)."""

from hat.io import ModelFileError, load, save

__all__ = ["ModelFileError", "load", "save"]
