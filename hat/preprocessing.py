"""Label encodings (class indices to one-hot rows and back) and image augmentations for
fit(augment=...)."""

import numpy as np


def sparse_to_categorical(x, n_out: int) -> np.ndarray:
    """One-hot float32 rows of width n_out for integer labels x (shape x.shape + (n_out,))."""
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
    """Class indices (int64) of one-hot or probability rows: the argmax of the last axis."""
    x = np.asarray(x)
    if x.ndim < 1 or x.shape[-1] == 0:
        raise ValueError(f"categorical_to_sparse expects rows of class scores; got shape {x.shape}")
    return x.argmax(axis=-1).astype(np.int64)


class RandomShift:
    """Augmentation for fit(augment=...): each image (N, C, H, W) moves by up to max_shift
    pixels down or up and right or left, independently, with zeros filling in. Draws from the
    model's generator, so runs stay repeatable and resumable."""

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
        return {"max_shift": self.max_shift}


class RandomAffine:
    """Augmentation for fit(augment=...): each image (N, C, H, W) turned by an angle drawn
    from [-rotation, rotation] degrees about its centre, scaled by a factor from
    [1 - zoom, 1 + zoom], and moved by up to `shift` pixels down or up and right or left
    (real numbers: bilinear sampling, zeros filling in), each sample its own draw. Draws from
    the model's generator, so runs stay repeatable and resumable. RandomAffine(0, shift=k,
    zoom=0) with an integer k moves images as RandomShift(k) does, but by any real amount."""

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
        return {"rotation": self.rotation, "shift": self.shift, "zoom": self.zoom}
