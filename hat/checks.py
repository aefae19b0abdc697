"""Input checks at the public boundary: every message names what it got and what it expected."""

import numpy as np

from hat.layers.base import shape_with_batch


def as_batch_array(x, name: str, sample_shape: tuple, dtype) -> np.ndarray:
    """x as a C-contiguous array of `dtype` with shape (N,) + sample_shape, N >= 1.

    Args:
        x (array-like): The input (a list holding one array is taken as that array, as in Hat).
        name (str): Its name in messages ("x").
        sample_shape (tuple): The shape of one sample, without the batch axis.
        dtype (np.dtype): The dtype of the returned array.

    Returns:
        np.ndarray: The checked batch.

    Raises:
        TypeError: `x` does not hold numbers.
        ValueError: `x` is empty, ragged, or of the wrong shape; the message says what was
            expected.
    """
    if isinstance(x, (list, tuple)) and len(x) == 1 and isinstance(x[0], np.ndarray):
        x = x[0]  # Hat accepted a list with one array per input
    arr = _as_array(x, name)
    if arr.dtype == object and (ragged := _ragged_message(x, name)):
        raise ValueError(ragged)
    if arr.dtype.kind not in "fiu":
        raise TypeError(
            f"{name} must hold numbers (float or int); got {_describe(x, arr)}"
            + (f". Convert it first, e.g. {name}.astype('float32')" if arr.dtype == bool else "")
        )
    if arr.ndim > 0 and arr.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); expected at least one sample")
    if arr.shape[1:] != tuple(sample_shape) or arr.ndim == 0:
        hint = ""
        if arr.shape == tuple(sample_shape):
            hint = f"; for one sample, add the batch axis: {name}[None]"
        raise ValueError(
            f"{name} has shape {arr.shape}, but the model expects {shape_with_batch(sample_shape)}"
            f" (any batch size){hint}"
        )
    return np.ascontiguousarray(arr, dtype=dtype)


def sample_array(y, name: str, n: int, dtype) -> np.ndarray:
    """Targets that only a loss function of the model reads: numbers, one row per sample.

    Args:
        y (array-like): The targets.
        name (str): Their name in messages.
        n (int): The number of samples in x.
        dtype (np.dtype): The dtype for float and bool targets (integers keep theirs).

    Returns:
        np.ndarray: The checked, C-contiguous targets.

    Raises:
        TypeError: `y` does not hold numbers.
        ValueError: `y` has another number of samples than x.
    """
    arr = _as_array(y, name)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{name} must hold numbers; got {_describe(y, arr)}")
    if arr.ndim == 0 or arr.shape[0] != n:
        got = arr.shape[0] if arr.ndim else "a scalar"
        raise ValueError(f"x and {name} must hold the same number of samples; got {n} and {got}")
    return np.ascontiguousarray(arr, dtype=dtype if arr.dtype.kind in "fb" else arr.dtype)


def as_list(value, name: str, count: int, what: str) -> list:
    """One array per model input (or output): a list of `count`, or a bare array when 1.

    Args:
        value (np.ndarray | list[np.ndarray]): The array, or the list of arrays.
        name (str): Its name in messages ("x").
        count (int): The model's number of inputs (or outputs).
        what (str): "inputs" or "outputs", for messages.

    Returns:
        list: `count` items.

    Raises:
        ValueError: A list of the wrong length, or a bare array for a model of several.
    """
    if isinstance(value, (list, tuple)) and (
        count > 1 or (len(value) == 1 and isinstance(value[0], np.ndarray))
    ):
        if len(value) != count:
            raise ValueError(
                f"{name} is a list of {len(value)} arrays; the model has {count} {what}"
            )
        return list(value)
    if count > 1:
        raise ValueError(
            f"the model has {count} {what}; give {name} as a list of {count} arrays, got "
            f"{type(value).__name__}"
        )
    return [value]


def _as_array(x, name: str) -> np.ndarray:
    try:
        return np.asarray(x)
    except ValueError as err:  # ragged nested lists
        ragged = _ragged_message(x, name)
        if ragged:
            raise ValueError(ragged) from None
        raise ValueError(
            f"{name} cannot be made into an array: {err} Every sample must have the same shape"
        ) from None


def _ragged_message(x, name: str) -> str | None:
    """The message for sequences of different lengths (a list of lists, or an object array
    of them, as imdb.load_data gives), or None when x is not that."""
    if not isinstance(x, (list, tuple, np.ndarray)) or len(x) < 2:
        return None
    lengths = []
    for item in x[:10_000]:  # enough to find two lengths; a glance, not a full pass
        try:
            lengths.append(len(item))
        except TypeError:
            return None
        if lengths[-1] != lengths[0]:
            break
    if len(set(lengths)) < 2:
        return None
    first, other = lengths[0], len(lengths) - 1
    return (
        f"{name} holds sequences of different lengths ({name}[0] has {first} steps, "
        f"{name}[{other}] has {lengths[other]}); a batch needs one length. Pad or truncate "
        f"them first: hat.preprocessing.pad_sequences({name}, maxlen=...) (Keras'), or "
        f"hat.preprocessing.pad_trunc_seqs({name}, max_len) (Hat's, which also returns the "
        "mask of real steps)"
    )


def _describe(x, arr: np.ndarray) -> str:
    if x is None:
        return "None"
    return f"an array of dtype {arr.dtype}"


def check_finite(arr: np.ndarray, name: str, chunk: int = 4096) -> None:
    """Raise naming the first sample that holds NaN or Inf. Chunked to keep memory flat.

    Args:
        arr (np.ndarray): A batch, samples along axis 0.
        name (str): Its name in the message ("x").
        chunk (int): Default 4096. Samples checked at a time.

    Raises:
        ValueError: A sample holds NaN or Inf; the message gives its index.
    """
    for start in range(0, arr.shape[0], chunk):
        block = arr[start : start + chunk].reshape(min(chunk, arr.shape[0] - start), -1)
        bad = ~np.isfinite(block).all(axis=1)
        if bad.any():
            index = start + int(np.argmax(bad))
            raise ValueError(
                f"{name}[{index}] holds NaN or Inf; clean the data, or pass "
                "allow_nonfinite=True to train on it anyway"
            )


def check_targets(y, n: int, loss, output_shape: tuple, dtype) -> np.ndarray:
    """Targets for `loss`, checked against the sample count and the model's output shape.

    Args:
        y (array-like): The targets.
        n (int): The number of samples in x.
        loss (Loss): The training loss; its `sparse_targets` says whether it takes labels.
        output_shape (tuple): The model's output shape, without the batch axis.
        dtype (np.dtype): The dtype for dense targets.

    Returns:
        np.ndarray: Dense targets of `dtype`, or int64 labels for a sparse loss.

    Raises:
        TypeError: `y` does not hold numbers.
        ValueError: `y` has another number of samples than x, a shape that does not fit the
            output (the message suggests the conversion), or labels out of range.
    """
    arr = _as_array(y, "y")
    if arr.dtype.kind not in "fiub" or arr.dtype.kind == "b" and not loss.sparse_targets:
        raise TypeError(
            f"y must hold numbers; got {_describe(y, arr)}"
            + (". Convert it first, e.g. y.astype('float32')" if arr.dtype == bool else "")
        )
    if arr.ndim == 0 or arr.shape[0] != n:
        got = arr.shape[0] if arr.ndim else "a scalar"
        raise ValueError(f"x and y must hold the same number of samples; got {n} and {got}")
    width = output_shape[-1]
    if loss.sparse_targets:
        return _check_labels(arr, width, loss.name)
    if arr.ndim == 1 and tuple(output_shape) == (1,):
        arr = arr[:, None]  # one target per sample for a one-output model
    if arr.shape[1:] == tuple(output_shape):
        return np.ascontiguousarray(arr, dtype=dtype)
    if arr.ndim == 1 and len(output_shape) == 1 and width > 1:
        raise ValueError(
            f"y has shape {arr.shape}: class labels, but {loss.name} expects one-hot rows of "
            f"width {width}. Call hat.preprocessing.sparse_to_categorical(y, {width}) first, or "
            "use loss_func='sparse_categorical_crossentropy'"
        )
    raise ValueError(
        f"y has shape {arr.shape}, but the model's output is {shape_with_batch(output_shape)}; "
        f"{loss.name} needs y of shape ({n},) + {tuple(output_shape)}"
    )


def _check_labels(arr: np.ndarray, width: int, loss_name: str) -> np.ndarray:
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(
            f"{loss_name} expects class labels of shape (N,); got y of shape {arr.shape}. For "
            "one-hot rows use loss_func='categorical_crossentropy' or "
            "hat.preprocessing.categorical_to_sparse(y)"
        )
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            index = int(np.argmax(bad))
            if not np.isfinite(arr[index]):
                raise ValueError(
                    f"y[{index}] holds NaN or Inf; {loss_name} expects integer class labels"
                )
            raise ValueError(
                f"{loss_name} expects integer class labels; y[{index}] is {arr[index]}"
            )
    labels = arr.astype(np.int64)
    if labels.min() < 0 or labels.max() >= width:
        raise ValueError(
            f"labels must lie in [0, {width - 1}] for a model with {width} outputs; got values "
            f"from {labels.min()} to {labels.max()}"
        )
    return labels


def positive_int(value, name: str) -> int:
    """`value` as an int, checked to be >= 1.

    Args:
        value (int): The value to check.
        name (str): Its name in messages.

    Returns:
        int: The value.

    Raises:
        TypeError: `value` is not an int.
        ValueError: `value` is below 1.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int; got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1; got {value}")
    return int(value)


def non_negative_int(value, name: str) -> int:
    """`value` as an int, checked to be >= 0.

    Args:
        value (int): The value to check.
        name (str): Its name in messages.

    Returns:
        int: The value.

    Raises:
        ValueError: `value` is not an int >= 0.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be an int >= 0; got {value!r}")
    return int(value)
