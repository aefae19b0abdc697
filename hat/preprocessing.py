"""Label encodings (class indices to one-hot rows and back), image augmentations for
fit(augment=...), and sequence helpers: padding and truncating to one length (Keras'
pad_sequences, Hat's pad_trunc_seqs with its mask) and cutting signals into frames."""

import numpy as np

PAD_SIDES = ("pre", "post")
"""The sides the sequence helpers pad and truncate at (their `padding`, `truncating` and
`pad_type` arguments)."""


def sparse_to_categorical(x, n_out: int) -> np.ndarray:
    """One-hot float32 rows of width n_out for integer labels x (shape x.shape + (n_out,)).

    Args:
        x (array-like): Integer class labels (ints, or floats holding whole numbers).
        n_out (int): The number of classes.

    Returns:
        np.ndarray: float32, shape `x.shape + (n_out,)`, a 1 at each label's position.

    Raises:
        ValueError: `n_out` is not a positive int, a label is not a whole number, or a label
            is outside [0, n_out - 1].
        TypeError: The labels are not numbers.
    """
    x = np.asarray(x)
    if isinstance(n_out, bool) or not isinstance(n_out, (int, np.integer)) or n_out < 1:
        raise ValueError(f"n_out must be a positive int; got {n_out!r}")
    if x.dtype.kind == "f":
        bad = ~np.isfinite(x) | (x != np.round(x))
        if np.any(bad):
            raise ValueError(
                "sparse_to_categorical expects integer class labels; got non-integers such as "
                f"{x[bad].flat[0]}"
            )
    elif x.dtype.kind not in "iub":
        raise TypeError(f"sparse_to_categorical expects integer labels; got dtype {x.dtype}")
    labels = x.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= n_out):
        raise ValueError(
            f"labels must lie in [0, {n_out - 1}] for n_out={n_out}; "
            f"got values from {labels.min()} to {labels.max()}"
        )
    out = np.zeros(labels.shape + (n_out,), dtype=np.float32)
    np.put_along_axis(out, labels[..., None], 1.0, axis=-1)
    return out


def categorical_to_sparse(x) -> np.ndarray:
    """Class indices (int64) of one-hot or probability rows: the argmax of the last axis.

    Args:
        x (array-like): One-hot or probability rows, classes along the last axis.

    Returns:
        np.ndarray: int64 class indices, shape `x.shape[:-1]`.

    Raises:
        ValueError: `x` has no last axis or it is empty.
    """
    x = np.asarray(x)
    if x.ndim < 1 or x.shape[-1] == 0:
        raise ValueError(f"categorical_to_sparse expects rows of class scores; got shape {x.shape}")
    return x.argmax(axis=-1).astype(np.int64)


class RandomShift:
    """Augmentation for fit(augment=...): each image (N, C, H, W) moves by up to max_shift
    pixels down or up and right or left, independently, with zeros filling in. Draws from the
    model's generator, so runs stay repeatable and resumable.

    Calling it, `aug(x, rng)`, takes a batch of images (N, C, H, W) and the generator to
    draw from, and returns the augmented batch (a buffer reused by the next call); fit does
    this for every training batch.

    Args:
        max_shift (int): Default 2. The largest move, in pixels, along each axis.

    Raises:
        ValueError: `max_shift` is not an int >= 0 (and, when called, the batch is not 4-D).
    """

    def __init__(self, max_shift: int = 2):
        if isinstance(max_shift, bool) or not isinstance(max_shift, int) or max_shift < 0:
            raise ValueError(f"max_shift must be an int >= 0; got {max_shift!r}")
        self.max_shift = max_shift
        self._out = None

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if x.ndim != 4:
            raise ValueError(f"RandomShift expects images (N, C, H, W); got shape {x.shape}")
        from hat.kernels.augment import shift_images

        shifts = rng.integers(-self.max_shift, self.max_shift + 1, (x.shape[0], 2))
        if self._out is None or self._out.shape != x.shape or self._out.dtype != x.dtype:
            self._out = np.empty_like(x)
        shift_images(x, shifts, self._out)
        return self._out

    def get_config(self) -> dict:
        """The constructor's arguments, as a model file records them.

        Returns:
            dict: Argument name to value.
        """
        return {"max_shift": self.max_shift}


class RandomAffine:
    """Augmentation for fit(augment=...): each image (N, C, H, W) turned by an angle drawn
    from [-rotation, rotation] degrees about its centre, scaled by a factor from
    [1 - zoom, 1 + zoom], and moved by up to `shift` pixels down or up and right or left
    (real numbers: bilinear sampling, zeros filling in), each sample its own draw. Draws from
    the model's generator, so runs stay repeatable and resumable. RandomAffine(0, shift=k,
    zoom=0) with an integer k moves images as RandomShift(k) does, but by any real amount.

    Calling it, `aug(x, rng)`, takes a batch of images (N, C, H, W) and the generator to
    draw from, and returns the augmented batch (a buffer reused by the next call); fit does
    this for every training batch.

    Args:
        rotation (float): Default 10.0. The largest turn, in degrees, in [0, 180].
        shift (float): Default 2.0. The largest move, in pixels, along each axis, >= 0.
        zoom (float): Default 0.0. The largest relative change of scale, in [0, 0.5].

    Raises:
        ValueError: An argument is out of range (and, when called, the batch is not 4-D).
    """

    def __init__(self, rotation: float = 10.0, shift: float = 2.0, zoom: float = 0.0):
        for name, value, top in (
            ("rotation", rotation, 180),
            ("shift", shift, None),
            ("zoom", zoom, 0.5),
        ):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not (0 <= value and (top is None or value <= top))
            ):
                expected = f"a number in [0, {top}]" if top is not None else "a number >= 0"
                raise ValueError(f"{name} must be {expected}; got {value!r}")
        self.rotation, self.shift, self.zoom = float(rotation), float(shift), float(zoom)
        self._out = None

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if x.ndim != 4:
            raise ValueError(f"RandomAffine expects images (N, C, H, W); got shape {x.shape}")
        from hat.kernels.augment import affine_images

        n = x.shape[0]
        angle = np.deg2rad(rng.uniform(-self.rotation, self.rotation, n))
        scale = rng.uniform(1 - self.zoom, 1 + self.zoom, n)
        params = np.empty((n, 4))
        params[:, 0], params[:, 1] = np.cos(angle) / scale, np.sin(angle) / scale
        params[:, 2:] = rng.uniform(-self.shift, self.shift, (n, 2))
        if self._out is None or self._out.shape != x.shape or self._out.dtype != x.dtype:
            self._out = np.empty_like(x)
        affine_images(x, params, self._out)
        return self._out

    def get_config(self) -> dict:
        """The constructor's arguments, as a model file records them.

        Returns:
            dict: Argument name to value.
        """
        return {"rotation": self.rotation, "shift": self.shift, "zoom": self.zoom}


# -- sequences ---------------------------------------------------------------------------------
def _side(value, what: str) -> str:
    if value not in PAD_SIDES:
        raise ValueError(f"{what} must be 'pre' or 'post'; got {value!r}")
    return value


def _count(value, what: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{what} must be an int >= {minimum}; got {value!r}")
    return int(value)


def _as_sequence(seq, index: int | None = None) -> np.ndarray:
    """One sequence as an array of at least one axis (its steps)."""
    arr = np.asarray(seq)
    if arr.ndim == 0:
        where = "" if index is None else f" (item {index})"
        raise TypeError(f"expected a sequence (a list or an array of steps){where}; got {seq!r}")
    return arr


def pad_sequences(
    sequences, maxlen: int | None = None, dtype="int32", padding: str = "pre",
    truncating: str = "pre", value=0.0,
) -> np.ndarray:  # fmt: skip
    """Keras' pad_sequences: sequences of different lengths as one array (n, maxlen, ...).

    Args:
        sequences (list | array): n sequences, each a list or an array of steps (a step may
            itself be a vector: every step must have the same shape).
        maxlen (int | None, default None): the length of the result; the longest sequence's
            if None.
        dtype (str | numpy dtype, default 'int32'): dtype of the result (token ids; give
            'float32' for real-valued steps).
        padding (str, default 'pre'): 'pre' puts the padding before each sequence, 'post'
            after it.
        truncating (str, default 'pre'): a sequence longer than maxlen loses its first steps
            ('pre', keeping the last maxlen) or its last ones ('post').
        value (float, default 0.0): the padding value.

    Returns:
        numpy.ndarray: shape (n, maxlen) + the shape of one step.

    Raises:
        TypeError: an item that is not a sequence.
        ValueError: a bad maxlen, padding or truncating, or steps of different shapes.
    """
    _side(padding, "padding")
    _side(truncating, "truncating")
    seqs = [_as_sequence(seq, i) for i, seq in enumerate(sequences)]
    if maxlen is None:
        maxlen = max((len(seq) for seq in seqs), default=0)
    maxlen = _count(maxlen, "maxlen", minimum=0)
    step_shapes = {seq.shape[1:] for seq in seqs if len(seq)}
    if len(step_shapes) > 1:
        raise ValueError(
            f"pad_sequences needs steps of one shape; got steps of shapes {sorted(step_shapes)}"
        )
    step = step_shapes.pop() if step_shapes else ()
    out = np.full((len(seqs), maxlen) + step, value, dtype=dtype)
    for i, seq in enumerate(seqs):
        kept = seq[max(len(seq) - maxlen, 0) :] if truncating == "pre" else seq[:maxlen]
        if len(kept) == 0:
            continue
        if padding == "post":
            out[i, : len(kept)] = kept
        else:
            out[i, maxlen - len(kept) :] = kept
    return out


def pad_trunc_seq(x, max_len: int, pad_type: str = "post") -> tuple[np.ndarray, np.ndarray]:
    """Hat's pad_trunc_seq: one sequence padded with zeros or truncated to max_len steps.

    Args:
        x (list | array): the sequence, steps first (a list of numbers or of vectors).
        max_len (int): the length to reach.
        pad_type (str, default 'post'): 'post' pads at the end and keeps the first max_len
            steps; 'pre' pads in front and keeps the last max_len.

    Returns:
        tuple: (x_new, mask): x_new of shape (max_len,) + x's step shape and x's dtype, and
        mask, float64 of shape (max_len,), 1 on x's steps and 0 on the padding.

    Raises:
        TypeError: x is not a sequence.
        ValueError: a bad max_len or pad_type.
    """
    max_len = _count(max_len, "max_len")
    _side(pad_type, "pad_type")
    x = _as_sequence(x)
    n = min(len(x), max_len)
    kept = x[len(x) - n :] if pad_type == "pre" else x[:n]
    x_new = np.zeros((max_len,) + x.shape[1:], dtype=x.dtype)
    mask = np.zeros(max_len)
    where = slice(max_len - n, max_len) if pad_type == "pre" else slice(0, n)
    x_new[where], mask[where] = kept, 1.0
    return x_new, mask


def pad_trunc_seqs(x, max_len: int, pad_type: str = "post") -> tuple:
    """Hat's pad_trunc_seqs: pad_trunc_seq on every sequence of x.

    Args:
        x (list | array): the sequences: a list of lists or arrays, or an array (an object
            array of lists, as imdb.load_data gives, or a regular array).
        max_len (int): the length to reach.
        pad_type (str, default 'post'): as for pad_trunc_seq.

    Returns:
        tuple: (x_new, mask): for an array x, arrays of shapes (n, max_len, ...) and
        (n, max_len); for a list, lists of the per-sequence arrays, as Hat returned them
        (np.array(x_new) stacks them).

    Raises:
        TypeError: an item that is not a sequence.
        ValueError: a bad max_len or pad_type.
    """
    pairs = [pad_trunc_seq(seq, max_len, pad_type) for seq in x]
    x_new, mask = [p[0] for p in pairs], [p[1] for p in pairs]
    if isinstance(x, np.ndarray):
        if not pairs:
            return np.zeros((0, max_len)), np.zeros((0, max_len))
        return np.stack(x_new), np.stack(mask)
    return x_new, mask


def enframe(x, win: int, inc: int) -> np.ndarray:
    """Hat's enframe: frames of win steps every inc steps from a signal x (steps first).

    Args:
        x (list | array): the signal, shape (L,) or (L, ...).
        win (int): frame length in steps.
        inc (int): steps from one frame's start to the next's.

    Returns:
        numpy.ndarray: (n_frames, win) + x's step shape, n_frames = (L - win) // inc + 1 (0
        when L < win: a last frame that does not fit is left out).

    Raises:
        ValueError: win or inc not a positive int.
    """
    win, inc = _count(win, "win"), _count(inc, "inc")
    x = _as_sequence(x)
    n_frames = (len(x) - win) // inc + 1 if len(x) >= win else 0
    starts = np.arange(n_frames) * inc
    return x[starts[:, None] + np.arange(win)]


def mat_2d_to_3d(X, agg_num: int, hop: int) -> np.ndarray:
    """Hat's mat_2d_to_3d: blocks of agg_num consecutive rows every hop rows.

    Args:
        X (array): (L, n_in) features, one row per frame.
        agg_num (int): rows per block.
        hop (int): rows from one block's start to the next's.

    Returns:
        numpy.ndarray: (n_blocks, agg_num, n_in); X is padded with zero rows to agg_num
        rows first when shorter, so there is at least one block.

    Raises:
        ValueError: X not 2-D, or agg_num or hop not a positive int.
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"mat_2d_to_3d expects a 2-D array (frames, features); got {X.shape}")
    agg_num = _count(agg_num, "agg_num")
    if len(X) < agg_num:
        X = np.concatenate([X, np.zeros((agg_num - len(X), X.shape[1]), X.dtype)])
    return enframe(X, agg_num, hop)


def reshape_3d_to_4d(X) -> np.ndarray:
    """Hat's reshape_3d_to_4d: (N, rows, cols) to (N, 1, rows, cols), images for Conv2D.

    Args:
        X (array): a 3-D array.

    Returns:
        numpy.ndarray: a view of X with a channel axis.

    Raises:
        ValueError: X not 3-D.
    """
    X = np.asarray(X)
    if X.ndim != 3:
        raise ValueError(f"reshape_3d_to_4d expects a 3-D array (N, rows, cols); got {X.shape}")
    return X.reshape(X.shape[0], 1, X.shape[1], X.shape[2])
