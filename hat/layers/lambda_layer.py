"""Lambda: a layer from a function written with hat.backend (K), differentiated on its tape."""

import importlib

import numpy as np

from hat.layers.base import Layer, shape_with_batch


class LambdaError(ValueError):
    """A Lambda's function failed, or returned something that is not a batch of values."""

    names_the_layer = True  # graph.call_layer passes it on as it is


class Lambda(Layer):
    """y = fn(input) on one input, or fn(inputs) on a list of them (as the layer was called).

    fn uses numpy-like operations from hat.backend (`import hat.backend as K`) and Python's
    operators; in training they run on the tape, which gives the gradient. Extra keyword
    arguments go to fn on every call, as in Hat. The output shape is found by running fn once
    on zeros. A model file stores fn by its importable name (module and qualified name).

    Args:
        fn (callable): `fn(x, **kwargs) -> array`, x one batch or the list of the inputs'
            batches; it must keep the batch axis first.
        name (str | None): Default None. The layer's name (also the key for fn in
            load_model's custom_objects).
        **kwargs (dict): Extra keyword arguments passed to fn on every call (stored in the
            model file with it).

    Raises:
        TypeError: `fn` is not callable.
        LambdaError: At the call, fn fails on zeros of the input shape or drops the batch
            axis; at load, fn cannot be imported.
    """

    flexible_inputs = True  # called on one node or on a list (graph.call_layer decides)
    takes_list = False

    def __init__(self, fn, name: str | None = None, **kwargs):
        super().__init__(name)
        if not callable(fn):
            raise TypeError(f"Lambda needs a function; got {type(fn).__name__} {fn!r:.80}")
        self.fn = fn
        self.kwargs = kwargs

    def build(self, input_shape, rng, dtype=np.float32):
        shapes = input_shape if self.takes_list else [input_shape]
        trial = [np.zeros((2,) + tuple(s), dtype) for s in shapes]
        with np.errstate(all="ignore"):
            out = np.asarray(self._run(trial if self.takes_list else trial[0], shapes))
        if out.ndim == 0 or out.shape[0] != 2:
            raise LambdaError(
                f"Lambda {self._label()} must keep the batch axis first; on a batch of 2 of "
                f"{self._shown(shapes)} its function returned shape {out.shape}"
            )
        return out.shape[1:]

    def forward(self, x, training):
        from hat.backend import tape as T

        xs = x if self.takes_list else [x]
        shapes = [a.shape[1:] for a in xs]
        if not training:
            self._tape = None
            return self._as_output(self._run(x, shapes), xs[0].dtype)
        with T.Tape() as t:
            watched = [t.watch(a) for a in xs]
            out = self._run(watched if self.takes_list else watched[0], shapes)
        self._tape, self._watched, self._out = t, watched, out
        self._dtypes = [a.dtype for a in xs]
        return self._as_output(T.value(out), xs[0].dtype)

    def backward(self, dy):
        if self._tape is None:
            raise RuntimeError(f"Lambda {self._label()}: backward needs a training forward first")
        grads = self._tape.gradient(self._out, self._watched, seed=dy)
        pairs = zip(grads, self._dtypes, strict=True)
        grads = [np.ascontiguousarray(g, dtype=dtype) for g, dtype in pairs]
        return grads if self.takes_list else grads[0]

    def _run(self, x, shapes):
        try:
            return self.fn(x, **self.kwargs)
        except Exception as err:
            raise LambdaError(
                f"Lambda {self._label()} failed on input {self._shown(shapes)}: "
                f"{type(err).__name__}: {err}"
            ) from err

    def _as_output(self, value, dtype) -> np.ndarray:
        return np.ascontiguousarray(value, dtype=dtype)

    def _label(self) -> str:
        return repr(self.name) if self.name else f"({_function_name(self.fn)})"

    @staticmethod
    def _shown(shapes) -> str:
        shown = [str(shape_with_batch(s)) for s in shapes]
        return shown[0] if len(shown) == 1 else "[" + ", ".join(shown) + "]"

    def get_config(self):
        return {"fn": _function_name(self.fn), "name": self.name, **self.kwargs}

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> "Lambda":
        """The Lambda a model file describes, its function found by name.

        Args:
            config (dict): What get_config returned.
            custom_objects (dict | None): Default None. Maps the layer's name or the
                function's name to the function, for one that cannot be imported.

        Returns:
            Lambda: The layer.

        Raises:
            LambdaError: The function is not in custom_objects and cannot be imported.
        """
        config = dict(config)
        config["fn"] = _function(config["fn"], config.get("name"), custom_objects or {})
        return cls(**config)


def _function_name(fn) -> str:
    return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"


def _function(stored: str, layer_name, custom_objects: dict):
    """The function a file names, from custom_objects or by importing it."""
    module, _, qualname = stored.partition(":")
    for key in (layer_name, stored, qualname, qualname.rsplit(".", 1)[-1]):
        if key in custom_objects:
            return custom_objects[key]
    try:
        value = importlib.import_module(module)
        for part in qualname.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as err:
        raise LambdaError(
            f"Lambda {layer_name!r} calls {stored!r}, which cannot be imported ({err}). A lambda "
            "or a function defined inside another has no importable name: define it at the top "
            f"of a module, or pass it as load_model(path, custom_objects={{{layer_name!r}: fn}})"
        ) from None
    if not callable(value):
        raise LambdaError(f"Lambda {layer_name!r}: {stored!r} is not a function")
    return value
