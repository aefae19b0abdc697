"""RnnState: a recurrent layer's final state as a node of its own (Keras' return_state).

`LSTM(64, return_state=True)(x)` returns [y, h, c]; h and c are nodes of RnnState layers that
read the LSTM's final states. A model's graph has one output per node, so a state cannot be a
second output of the LSTM's node; instead the RnnState node takes the LSTM's node as its input
(which puts it after the LSTM in the order of the passes) and is linked to the layer that
computes it when the model is built. Its backward pass hands the state's gradient to that
layer, which adds it to the last step's, and gives its input a zero gradient: the state does
not depend on the output sequence, only on what made it.
"""

import numpy as np

from hat.layers.base import Layer


class RnnState(Layer):
    """The final state `index` (0: h; 1: an LSTM's c) of the recurrent layer that computes its
    input node. Made by calling a layer built with return_state=True; not called directly.

    Args:
        index (int): Default 0. Which state: 0 for h, 1 for an LSTM's cell c.
        name (str | None): Default None. The layer's name.

    Raises:
        ValueError: index is not 0 or 1.
    """

    def __init__(self, index: int = 0, name: str | None = None):
        super().__init__(name)
        if index not in (0, 1):
            raise ValueError(f"RnnState's index is 0 (h) or 1 (an LSTM's c); got {index!r}")
        self.index = index
        self.source = None

    def build(self, input_shape, rng, dtype=np.float32):
        """The state's shape, (n_out,): the last axis of the recurrent layer's output.

        Args:
            input_shape (tuple): The recurrent layer's output shape, without the batch axis.
            rng (numpy.random.Generator): Unused (no weights).
            dtype (numpy.dtype): Default float32. The model's dtype.

        Returns:
            tuple: (n_out,).
        """
        return (input_shape[-1],)

    def link(self, sources: list) -> None:
        """Take the layer (or a shared layer's runner) that computes the input node.

        Args:
            sources (list): The runners of this node's inputs, in the model being built.

        Raises:
            TypeError: The input is not computed by a recurrent layer with return_state=True,
                or it has no state `index`.
        """
        from hat.layers.recurrent import RnnBase

        source = sources[0]
        if not isinstance(source, RnnBase) or not source.return_state:
            raise TypeError(
                f"{self.name} reads the final state of a recurrent layer built with "
                f"return_state=True; its input comes from {source!r}"
            )
        if self.index >= source.n_states:
            raise TypeError(
                f"{self.name} reads state {self.index}, but {type(source).__name__} has "
                f"{source.n_states} state(s)"
            )
        self.source = source

    def forward(self, x, training):
        """The source layer's final state from its last forward pass.

        Args:
            x (numpy.ndarray): The source's output (not read: the state is the source's own).
            training (bool): Unused.

        Returns:
            numpy.ndarray: (batch, n_out), the source's buffer.
        """
        return self.source.final_states()[self.index]

    def backward(self, dy):
        """Hand dL/d(state) to the source layer; its output gets a zero gradient from here.

        Args:
            dy (numpy.ndarray): (batch, n_out).

        Returns:
            numpy.ndarray: Zeros of the source output's shape.
        """
        self.source.add_state_grad(self.index, dy)
        shape = (len(dy),) + tuple(self.source.output_shape)
        zeros = self._buffer("zeros", shape, dy.dtype)
        zeros.fill(0)
        return zeros

    def get_config(self):
        return {"index": self.index, "name": self.name}
