"""The ONNX graph that the emitters fill: nodes, weights (initializers) and unique names."""

from __future__ import annotations

import re

import numpy as np


class OnnxGraph:
    """Collects nodes and initializers; hands out unique value names.

    Emitters call `node` and `weight`; hat.onnx turns the result into a ModelProto.
    """

    def __init__(self, dtype=np.float32, opset: int = 17):
        from onnx import helper, numpy_helper

        self._helper, self._numpy_helper = helper, numpy_helper
        self.dtype = np.dtype(dtype)  # the file's float type: weights are cast to it
        self.opset = opset  # for the operators whose form changed between opsets
        self.nodes: list = []
        self.initializers: list = []
        self._taken: set[str] = set()
        self._weights: dict[str, tuple] = {}  # name asked for -> (initializer name, values)

    def fresh(self, hint: str) -> str:
        """A value name not used yet, made from `hint` (a layer name, say)."""
        base = re.sub(r"[^0-9A-Za-z_.:/-]", "_", hint) or "value"
        name, k = base, 1
        while name in self._taken:
            name, k = f"{base}_{k}", k + 1
        self._taken.add(name)
        return name

    def reserve(self, name: str) -> str:
        """Claim an exact name (a graph input or output); raises if it is taken."""
        if name in self._taken:
            raise ValueError(f"the ONNX name {name!r} is used twice; choose distinct names")
        self._taken.add(name)
        return name

    def node(self, op: str, inputs: list[str], outputs: list[str], name: str, **attrs) -> None:
        """One ONNX node; attrs become its attributes (every one written, none defaulted)."""
        self.nodes.append(
            self._helper.make_node(op, inputs, outputs, name=self.fresh(name), **attrs)
        )

    def weight(self, name: str, value: np.ndarray, dtype=None) -> str:
        """An initializer holding `value` (cast to the file's float type unless dtype says
        otherwise, as for int64 shapes); returns its name. A name asked for again (a shared
        layer's second call: '<layer>.W') returns the first initializer: weights are stored
        once."""
        array = np.ascontiguousarray(value, dtype=dtype or self.dtype)
        known = self._weights.get(name)
        if known is not None and known[1].shape == array.shape and np.array_equal(known[1], array):
            return known[0]
        # A new name, or the same name for other values (two constants an emitter named alike):
        # a new initializer either way, so a name can never stand for the wrong values.
        unique = self.fresh(name)
        self._weights.setdefault(name, (unique, array))
        self.initializers.append(self._numpy_helper.from_array(array, unique))
        return unique

    def weight_bytes(self) -> int:
        """Bytes of the float initializers (the weights as the file stores them)."""
        return sum(
            self._numpy_helper.to_array(t).nbytes
            for t in self.initializers
            if t.data_type in (1, 11)  # FLOAT, DOUBLE
        )
