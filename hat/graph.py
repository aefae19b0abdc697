"""Nodes: one call of a layer on the outputs of other layers, and the order a model runs them in.

A layer holds parameters; a Node is one call of it (a layer called twice has two nodes that
share its parameters). Calling a layer on a node, an InputLayer or a list of them returns the
new node, which is the handle that both Hat (`name_`, `out_shape_`, `Model(in_layers=...)`)
and Keras (`shape`, `Model(inputs=..., outputs=...)`) code passes around.
"""

import numpy as np

# No hat import at module level: hat.layers imports this module (for Input) while it loads.


def shape_with_batch(shape) -> tuple:
    """A shape as Hat printed it, with None for the batch axis.

    Args:
        shape (tuple[int, ...]): The sample shape.

    Returns:
        tuple: `(None, *shape)`.
    """
    return (None,) + tuple(shape)


class GraphError(ValueError):
    """The layers do not form a model: a cycle, a missing input, a shape that does not fit."""


class Node:
    """The output of one layer call: what `layer(inputs)` returns.

    Users get nodes from layer calls and `Input`; they do not build them.

    Args:
        layer (Layer): The layer called.
        inputs (list[Node]): The nodes it was called on (empty for an InputLayer's node).
        output_shape (tuple | None): The sample shape of the output; None until the model
            builds the layer (a Sequential's chain).

    Attributes:
        layer (Layer): The layer called.
        inputs (list[Node]): The nodes it reads.
        output_shape (tuple | None): The sample shape of its output.
    """

    def __init__(self, layer, inputs: list["Node"], output_shape: tuple | None):
        self.layer = layer
        self.inputs = inputs
        self.output_shape = output_shape

    # Hat's handle properties, read through to the layer
    @property
    def name_(self) -> str | None:
        """Hat's handle property: the layer's name."""
        return self.layer.name

    @property
    def name(self) -> str | None:
        """The layer's name."""
        return self.layer.name

    @property
    def out_shape_(self) -> tuple:
        """Hat's handle property: the output shape with None for the batch axis."""
        return shape_with_batch(self.output_shape)

    @property
    def shape(self) -> tuple:
        """Keras' symbolic shape: None for the batch axis."""
        return shape_with_batch(self.output_shape)

    def __repr__(self) -> str:
        what = self.layer.name or type(self.layer).__name__
        return f"<Node {what} {shape_with_batch(self.output_shape)}>"


def input_node(layer) -> Node:
    """The one node of an InputLayer (made on first use).

    Args:
        layer (InputLayer): The input layer.

    Returns:
        Node: Its node, the same on every call.
    """
    node = getattr(layer, "_input_node", None)
    if node is None:
        node = layer._input_node = Node(layer, [], tuple(layer.in_shape))
    return node


def Input(shape, name: str | None = None) -> Node:  # noqa: N802 (Keras' spelling)
    """Keras' entry point: the node of a new InputLayer(shape).

    Args:
        shape (int | tuple[int, ...]): The shape of one sample, without the batch axis.
        name (str | None): Default None. The input layer's name.

    Returns:
        Node: The node to call layers on and to pass to `Model(inputs=...)`.

    Raises:
        TypeError: `shape` is not an int or a tuple of ints.
        ValueError: A size in `shape` is below 1.
    """
    from hat.layers.core import InputLayer

    return input_node(InputLayer(shape, name=name))


def as_node(value, what: str) -> Node:
    """A node from a node or an InputLayer; anything else is a clear error.

    Args:
        value (Node | InputLayer): What a model or a layer call was given.
        what (str): How the error message names it ("input 0", "output 1", ...).

    Returns:
        Node: The node itself, or the InputLayer's node.

    Raises:
        TypeError: `value` is a layer not yet called, or not a node or InputLayer.
    """
    from hat.layers.base import Layer
    from hat.layers.core import InputLayer

    if isinstance(value, Node):
        return value
    if isinstance(value, InputLayer):
        return input_node(value)
    if isinstance(value, Layer):
        raise TypeError(
            f"{what} is the layer {value!r}, which has not been called on anything; call it on "
            "an input first, e.g. Dense(10)(Input(784)), or pass the node that a call returned"
        )
    raise TypeError(
        f"{what} must be the output of a layer call or an InputLayer; got "
        f"{type(value).__name__} {value!r:.80}"
    )


def call_layer(layer, inputs) -> Node:
    """`layer(inputs)`: check that the input shapes fit, and return the new node.

    Args:
        layer (Layer): The layer called (not an InputLayer).
        inputs (Node | InputLayer | list): One input, or a list of them for a merge layer.

    Returns:
        Node: The new node, with the layer's output shape.

    Raises:
        TypeError: `layer` is an InputLayer, or an input is not a node or InputLayer.
        GraphError: The number of inputs does not fit the layer, a shared layer is called on
            another shape, or the layer cannot be built on the input shapes.
    """
    from hat.layers.core import InputLayer

    if isinstance(layer, InputLayer):
        raise TypeError(f"{layer!r} is an input and takes no inputs; call other layers on it")
    many = isinstance(inputs, (list, tuple))
    nodes = (
        [as_node(v, f"input {i} of {_label(layer)}") for i, v in enumerate(inputs)]
        if many
        else [as_node(inputs, f"the input of {_label(layer)}")]
    )
    if getattr(layer, "flexible_inputs", False):  # Lambda: one node, or a list of any length
        layer.takes_list = many
    elif layer.n_inputs == 1 and len(nodes) != 1:
        if len(nodes) == 0:
            raise GraphError(f"{_label(layer)} was called on an empty list; give it one input")
        raise GraphError(
            f"{_label(layer)} takes one input; got a list of {len(nodes)}. Merge them first, "
            "e.g. Concatenate()([a, b])"
        )
    elif layer.n_inputs is None and len(nodes) < 2:
        raise GraphError(f"{_label(layer)} takes a list of at least two inputs; got {len(nodes)}")
    elif layer.n_inputs not in (None, 1) and len(nodes) != layer.n_inputs:
        raise GraphError(f"{_label(layer)} takes {layer.n_inputs} inputs; got {len(nodes)}")
    shapes = [n.output_shape for n in nodes]
    shape = shapes if takes_list(layer) else shapes[0]
    first = getattr(layer, "_first_call_shape", None)
    if first is not None:
        if _shape_key(first) != _shape_key(shape):
            raise GraphError(
                f"{_label(layer)} was first called on shape {_show(first)}; a shared layer "
                f"must be called on the same shape again, got {_show(shape)}"
            )
        out = layer._first_call_output
    else:
        out = _trial_build(layer, shape, nodes)
        layer._first_call_shape, layer._first_call_output = shape, out
    return Node(layer, nodes, out)


def takes_list(layer) -> bool:
    """Whether the layer's forward takes the list of its inputs rather than one array.

    Args:
        layer (Layer): The layer.

    Returns:
        bool: True for merge layers and a Lambda called on a list.
    """
    return getattr(layer, "takes_list", layer.n_inputs != 1)


def _trial_build(layer, shape, nodes) -> tuple:
    """The output shape, found by building the layer once on a throwaway generator (the model
    builds it again from its own generator, so call order never changes the weights)."""
    try:
        out = layer.build(shape, np.random.default_rng(0), np.float32)
    except ValueError as err:
        if getattr(err, "names_the_layer", False):  # a Lambda's own message says it all
            raise
        after = " and ".join(f"{_label(n.layer)} ({_show(n.output_shape)})" for n in nodes)
        raise GraphError(f"{_label(layer)} cannot be called on {after}: {err}") from None
    return tuple(out)


def _label(layer) -> str:
    return layer.name or type(layer).__name__


def _show(shape) -> str:
    if isinstance(shape, list):
        return "[" + ", ".join(str(shape_with_batch(s)) for s in shape) + "]"
    return str(shape_with_batch(shape))


def _shape_key(shape):
    if shape is None:  # an InputLayer's
        return None
    return [tuple(s) for s in shape] if isinstance(shape, list) else tuple(shape)


def chain(layers: list) -> tuple[list[Node], Node]:
    """Nodes for a Sequential stack, without trial builds (the model builds and checks them).

    Args:
        layers (list[Layer]): The stack; the first must be an InputLayer, and no other.

    Returns:
        tuple[list[Node], Node]: The input nodes and the last node.

    Raises:
        ValueError: The first layer is not an InputLayer, or a later one is.
    """
    from hat.layers.core import InputLayer

    if not layers or not isinstance(layers[0], InputLayer):
        got = type(layers[0]).__name__ if layers else "no layers"
        raise ValueError(
            f"the first layer must be an InputLayer that declares the sample shape; got {got}"
            ". Start with InputLayer(784), for example"
        )
    first = input_node(layers[0])
    node = first
    for layer in layers[1:]:
        if isinstance(layer, InputLayer):
            raise ValueError(f"only the first layer may be an InputLayer; got {layer!r}")
        if getattr(layer, "return_state", False):
            raise ValueError(
                f"{_label(layer)} has return_state=True, which gives several outputs; a "
                "Sequential chain carries one. Use the functional API: y, h = layer(x)"
            )
        node = Node(layer, [node], None)
    return [first], node


class Uses:
    """How the model's nodes use each other, as the folds ask before one layer takes over
    another's pass (fold_batchnorms, fold_pools, fold_dropouts): how many nodes read each
    node's value, how many nodes call each layer, and which nodes' values leave the model.

    Args:
        nodes (list[Node]): the model's nodes.
        ends (list[Node]): Default (). Nodes whose values leave the model.
    """

    def __init__(self, nodes: list[Node], ends=()):
        self._readers: dict[int, int] = {}
        self._calls: dict[int, int] = {}
        for node in nodes:
            self._calls[id(node.layer)] = self._calls.get(id(node.layer), 0) + 1
            for parent in node.inputs:
                self._readers[id(parent)] = self._readers.get(id(parent), 0) + 1
        self._ends = {id(node) for node in ends}

    def called_once(self, node: Node) -> bool:
        """Whether node's layer is called by this node only.

        Args:
            node (Node): one of the model's nodes.

        Returns:
            bool: True when no other node calls the same layer.
        """
        return self._calls[id(node.layer)] == 1

    def is_end(self, node: Node) -> bool:
        """Whether node's value leaves the model.

        Args:
            node (Node): one of the model's nodes.

        Returns:
            bool: True for one of the ends.
        """
        return id(node) in self._ends

    def alone(self, node: Node) -> bool:
        """Whether node's value is read by one node only and does not leave the model, and its
        layer is called by this node only: another layer may then compute it in its pass.

        Args:
            node (Node): one of the model's nodes.

        Returns:
            bool: True when the node is used that once.
        """
        once = self._readers.get(id(node), 0) == 1 and self.called_once(node)
        return once and not self.is_end(node)


def topological_order(inputs: list[Node], outputs: list[Node]) -> list[Node]:
    """Every node that the outputs depend on, each after its inputs; inputs first, in order.

    Args:
        inputs (list[Node]): The model's input nodes.
        outputs (list[Node]): The nodes to compute (outputs and any_layers).

    Returns:
        list[Node]: The nodes in an order that runs each after the nodes it reads.

    Raises:
        GraphError: The layers form a cycle, or an output depends on an input not listed.
    """
    order: list[Node] = []
    state: dict[int, int] = {}  # id -> 1 while visiting, 2 when placed
    listed = {id(n) for n in inputs}

    def visit(start: Node) -> None:
        # Iterative, for long chains: recursion would hit Python's limit past ~1000 layers.
        if state.get(id(start)) == 2:
            return
        stack = [(start, iter(start.inputs))]
        trail: list[Node] = []
        check(start, trail)
        state[id(start)] = 1
        trail.append(start)
        while stack:
            node, parents = stack[-1]
            parent = next(parents, None)
            if parent is None:
                stack.pop()
                trail.pop()
                state[id(node)] = 2
                order.append(node)
                continue
            if state.get(id(parent)) == 2:
                continue
            check(parent, trail)
            state[id(parent)] = 1
            trail.append(parent)
            stack.append((parent, iter(parent.inputs)))

    def check(node: Node, trail: list[Node]) -> None:
        if state.get(id(node)) == 1:
            loop = " -> ".join(_label(n.layer) for n in [*trail[trail.index(node) :], node])
            raise GraphError(f"the layers form a cycle: {loop}")
        if not node.inputs and id(node) not in listed:
            raise GraphError(
                f"an output depends on {_label(node.layer)}, which is not among the model's "
                f"inputs {[_label(n.layer) for n in inputs]}; add it to in_layers / inputs"
            )

    for node in inputs:
        if state.get(id(node)) != 2:
            state[id(node)] = 2
            order.append(node)
    for node in outputs:
        visit(node)
    return order
