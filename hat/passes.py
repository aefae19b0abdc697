"""The forward and backward passes over a model's nodes, in the order fixed at construction.

Each node runs on a *runner*: the layer itself for its first call, a copy that shares the
parameters and state (but has its own buffers, backward cache and gradient arrays) for every
further call of a shared layer. The copies' gradients are summed into the layer's after the
backward pass, so a shared layer gets the sum over its calls.
"""

import copy

import numpy as np

from hat.graph import Node, takes_list


class Step:
    """What one node needs at run time: its runner and where its inputs are."""

    def __init__(self, index: int, node: Node, runner, inputs: list[int]):
        self.index = index
        self.node = node
        self.runner = runner
        self.inputs = inputs  # indices of the steps whose values it reads
        self.is_input = not node.inputs
        self.many = takes_list(runner)
        self.masks = bool(runner.supports_masking)
        self.needs_grad = False  # set by Program: it or something before it has trainable params
        # The first call of a layer with trainable params: its grads are the model's own.
        self.owns_grads = bool(runner.trainable) and runner is node.layer
        self.consumers = 0


def node_runner(layer):
    """A copy of `layer` for a second call: shared params and state, private everything else."""
    runner = copy.copy(layer)
    runner._buffers = {}
    runner.grads = {k: np.zeros_like(v) for k, v in layer.grads.items()}
    return runner


class Program:
    """The nodes in order with their value slots; runs forward and backward over them."""

    def __init__(self, order: list[Node], runners: dict[int, object]):
        index = {id(node): i for i, node in enumerate(order)}
        self.steps = [
            Step(i, node, runners[id(node)], [index[id(p)] for p in node.inputs])
            for i, node in enumerate(order)
        ]
        for step in self.steps:
            if hasattr(step.runner, "link"):  # RnnState: the runner that computes its input
                step.runner.link([self.steps[j].runner for j in step.inputs])
            own = bool(step.runner.trainable) and not step.is_input
            step.needs_grad = own or any(self.steps[j].needs_grad for j in step.inputs)
            for j in step.inputs:
                self.steps[j].consumers += 1
            if not step.many:
                step.runner.needs_input_grad = any(self.steps[j].needs_grad for j in step.inputs)
        self.index = index
        self.values: list = [None] * len(self.steps)
        self.masks: list = [None] * len(self.steps)
        self._acc: dict[int, np.ndarray] = {}  # summed gradients of nodes read by several
        self._copies = self._shared_copies()
        # The first training step's helper compiling kernels ahead (hat.kernels.ahead), or None.
        self.ahead = None
        self.ahead_checked = False
        self.trained_steps = 0  # training steps run (the pool's spin is looked at on a few)
        self.last_training = True  # the last forward's mode

    def _shared_copies(self) -> list[tuple]:
        """(layer, [indices of steps that run a copy of it]) for every shared layer."""
        by_layer: dict[int, list[int]] = {}
        for step in self.steps:
            by_layer.setdefault(id(step.node.layer), []).append(step.index)
        return [
            (self.steps[ids[0]].node.layer, ids)
            for ids in by_layer.values()
            if len(ids) > 1 and self.steps[ids[0]].runner.params
        ]

    def forward(self, inputs: list[np.ndarray], training: bool) -> None:
        values, masks = self.values, self.masks
        self.last_training = training
        position = 0
        for step in self.steps:
            i = step.index
            if step.is_input:
                values[i] = inputs[position]
                masks[i] = None
                position += 1
                continue
            if step.many:
                x = [values[j] for j in step.inputs]
                # A recurrent layer's [x, initial states]: the sequence's mask
                first = getattr(step.runner, "mask_of_first_input", False)
                mask = masks[step.inputs[0]] if first else None
            else:
                x = values[step.inputs[0]]
                mask = masks[step.inputs[0]]
            runner = step.runner
            y = (
                runner.forward(x, training, mask=mask)
                if step.masks
                else runner.forward(x, training)
            )
            values[i] = y
            masks[i] = runner.compute_mask(x, mask)

    def backward(self, seeds: dict[int, np.ndarray], preactivation: frozenset = frozenset()):
        """Back-propagate dL/d(value) given for some steps; writes every layer's grads."""
        grads: list = [None] * len(self.steps)
        for i, seed in seeds.items():
            self._accumulate(grads, i, seed)
        ran = set()
        for step in reversed(self.steps):
            i = step.index
            if not step.needs_grad or step.is_input or grads[i] is None:
                continue
            runner = step.runner
            if self.ahead is not None:  # first step, cold cache: its kernels may be on the way
                self.ahead.wait(i)
            if i in preactivation:
                dx = runner.backward(grads[i], preactivation=True)
            else:
                dx = runner.backward(grads[i])
            ran.add(i)
            if step.many:
                for j, d in zip(step.inputs, dx, strict=True):
                    if d is not None and self.steps[j].needs_grad:
                        self._accumulate(grads, j, d)
            elif runner.needs_input_grad:
                self._accumulate(grads, step.inputs[0], dx)
        self._settle_grads(ran)

    def _accumulate(self, grads: list, i: int, d: np.ndarray) -> None:
        if grads[i] is None:
            grads[i] = d
            return
        acc = self._acc.get(i)
        if acc is None or acc.shape != d.shape or acc.dtype != d.dtype:
            acc = self._acc[i] = np.empty_like(d)
        if grads[i] is acc:
            acc += d
        else:
            np.add(grads[i], d, out=acc)
            grads[i] = acc

    def _settle_grads(self, ran: set) -> None:
        """Zero the gradients of layers that no gradient reached this pass (a stale gradient
        would move them), and sum a shared layer's calls into its own gradient arrays."""
        for step in self.steps:
            if step.owns_grads and step.index not in ran:
                for grad in step.runner.grads.values():
                    grad[...] = 0
        for layer, ids in self._copies:
            for i in ids[1:]:
                if i in ran:
                    for key, grad in self.steps[i].runner.grads.items():
                        layer.grads[key] += grad
