"""Callbacks: Keras' hooks and Hat's protocol (compile(md), call(), call_freq), side by side.

A Keras-style callback overrides on_epoch_end and friends. A Hat-style callback overrides
call(), which runs before training (at epoch 0) and then whenever the epoch count is a multiple
of call_freq. Callbacks stop training only by setting model.stop_training = True.
"""

import os
import pickle
import sys
import time


class CallbackError(RuntimeError):
    """A callback raised; the message names it and the hook. The model stays usable."""


class Callback:
    def __init__(self, call_freq: int = 1, type: str = "epoch"):
        if isinstance(call_freq, bool) or not isinstance(call_freq, int) or call_freq < 1:
            raise ValueError(f"call_freq must be an int >= 1; got {call_freq!r}")
        if type != "epoch":
            raise ValueError(
                f"type must be 'epoch' (iteration callbacks are not supported); got {type!r}"
            )
        self.call_freq = call_freq
        self.type = type
        self.model = None
        self.logs: dict = {}
        self._last_call_epoch = None

    # Hat's protocol
    def compile(self, md) -> None:
        self.model = md

    def call(self) -> None:
        """Hat-style work: runs at epoch 0 and every call_freq epochs."""

    @property
    def call_freq_(self) -> int:
        return self.call_freq

    @property
    def type_(self) -> str:
        return self.type

    def _call_if_due(self, logs) -> None:
        epoch = self.model.epoch
        if epoch % self.call_freq == 0 and epoch != self._last_call_epoch:
            self._last_call_epoch = epoch
            self.logs = logs if logs is not None else {}
            self.call()

    # Keras' hooks
    def set_model(self, model) -> None:
        self.compile(model)

    def on_train_begin(self, logs=None):
        self._call_if_due(logs)

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        self._call_if_due(logs)

    def on_batch_begin(self, batch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass


class CallbackList:
    """Fans each hook out to every callback, naming the callback when one raises."""

    def __init__(self, callbacks, model):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be hat.callbacks.Callback instances; got {cb!r}")
            cb.set_model(model)

    def _fan_out(self, hook: str, *args) -> None:
        for cb in self.callbacks:
            try:
                getattr(cb, hook)(*args)
            except Exception as err:
                raise CallbackError(
                    f"callback {type(cb).__name__} raised {type(err).__name__} in {hook}: {err}"
                ) from err

    def on_train_begin(self, logs):
        self._fan_out("on_train_begin", logs)

    def on_train_end(self, logs):
        self._fan_out("on_train_end", logs)

    def on_epoch_begin(self, epoch, logs):
        self._fan_out("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs):
        self._fan_out("on_epoch_end", epoch, logs)

    def on_batch_begin(self, batch, logs):
        self._fan_out("on_batch_begin", batch, logs)

    def on_batch_end(self, batch, logs):
        self._fan_out("on_batch_end", batch, logs)


class History(Callback):
    """What fit returns. history: per-epoch means ('loss', 'val_loss', ...), one entry per
    epoch in `epoch`; batch_history: the loss of each training batch, with its epoch."""

    def __init__(self):
        super().__init__()
        self.epoch: list[int] = []
        self.history: dict[str, list] = {}
        self.batch_history: dict[str, list] = {"epoch": [], "batch": [], "loss": [], "size": []}

    def on_train_begin(self, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        for key in self.batch_history:
            self.batch_history[key].append(logs[key])

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


class ProgbarLogger(Callback):
    """verbose=1: a tqdm bar per epoch with the running loss and samples/s, redrawn at most
    twice a second (one line in a terminal or a notebook); verbose=2: one line per epoch."""

    def __init__(self, verbose: int = 1, n_batches: int = 0, n_epochs: int = 0):
        super().__init__()
        self.verbose, self.n_batches, self.n_epochs = verbose, n_batches, n_epochs
        self._bar = None

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        self._start = self._last_draw = time.perf_counter()
        self._seen, self._loss_sum = 0, 0.0
        if self.verbose == 1:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=self.n_batches,
                desc=f"epoch {epoch + 1}/{self.n_epochs}",
                unit="batch",
                leave=True,
                dynamic_ncols=True,
                mininterval=0.5,
                file=sys.stdout,
            )

    def on_batch_end(self, batch, logs=None):
        self._seen += logs["size"]
        self._loss_sum += logs["loss"] * logs["size"]
        if self._bar is None:
            return
        self._bar.update(1)
        now = time.perf_counter()
        if now - self._last_draw > 0.5:
            self._last_draw = now
            self._bar.set_postfix(self._postfix(now), refresh=False)

    def _postfix(self, now) -> dict:
        rate = self._seen / max(now - self._start, 1e-9)
        return {"loss": f"{self._loss_sum / max(self._seen, 1):.4f}", "samples/s": f"{rate:,.0f}"}

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        if self._bar is not None:
            self._bar.set_postfix(self._postfix(now), refresh=True)
            self._bar.close()
            self._bar = None
        elif self.verbose == 2:
            parts = [f"epoch {epoch + 1}/{self.n_epochs}", f"{now - self._start:.1f}s"]
            parts += [f"{k}: {v:.4f}" for k, v in (logs or {}).items() if isinstance(v, float)]
            parts.append(f"{self._seen / max(now - self._start, 1e-9):,.0f} samples/s")
            print(" - ".join(parts), flush=True)

    def on_train_end(self, logs=None):
        if self._bar is not None:  # training stopped mid-epoch
            self._bar.close()
            self._bar = None


class SaveModel(Callback):
    """Hat's checkpoints: saves the model to <dump_fd>/md<epoch>_epochs.h5 every call_freq epochs
    (epoch 0 is the untrained model). Creates the folder."""

    def __init__(self, dump_fd: str, call_freq: int = 3, type: str = "epoch"):
        super().__init__(call_freq, type)
        if not isinstance(dump_fd, (str, os.PathLike)):
            raise TypeError(f"dump_fd must be a folder path; got {dump_fd!r}")
        self.dump_fd = os.fspath(dump_fd)

    def call(self):
        from hat import io

        os.makedirs(self.dump_fd, exist_ok=True)
        path = os.path.join(self.dump_fd, f"md{self.model.epoch}_epochs.h5")
        io.save(self.model, path)
        print(f"    Save to {path} successfully!", flush=True)


class Validation(Callback):
    """Hat's evaluation callback: metrics of each given split (tr, va, te) in inference mode,
    printed, written into the epoch's logs (as tr_<metric>, va_<metric>, te_<metric>) and, if
    dump_path is set, pickled there with one list entry per call."""

    def __init__(
        self,
        tr_x=None,
        tr_y=None,
        va_x=None,
        va_y=None,
        te_x=None,
        te_y=None,
        batch_size: int = 100,
        call_freq: int = 3,
        metrics=("categorical_error",),
        dump_path: str | None = "validation.p",
        type: str = "epoch",
        verbose: int = 1,
    ):
        super().__init__(call_freq, type)
        from hat import metrics as metrics_mod

        self.splits = {}
        for prefix, x, y in (("tr", tr_x, tr_y), ("va", va_x, va_y), ("te", te_x, te_y)):
            if (x is None) != (y is None):
                raise ValueError(f"Validation needs both {prefix}_x and {prefix}_y, or neither")
            if x is not None:
                self.splits[prefix] = (x, y)
        if isinstance(metrics, str):
            metrics = [metrics]
        self.metric_names = [metrics_mod.get(m)[0] for m in metrics]
        self.metrics = list(metrics)
        self.batch_size = batch_size
        self.dump_path = dump_path
        self.verbose = verbose
        self.cb_time = 0.0
        self.results: dict = {"epochs": []}
        for prefix in ("tr", "va", "te"):
            for name in self.metric_names:
                self.results[f"{prefix}_{name}"] = []

    def call(self):
        start = time.perf_counter()
        self.results["epochs"].append(self.model.epoch)
        for prefix, (x, y) in self.splits.items():
            split_start = time.perf_counter()
            values = self.model.evaluate(x, y, self.batch_size, self.metrics, return_dict=True)
            for name, value in values.items():
                key = f"{prefix}_{name}"
                self.results[key].append(value)
                self.logs[key] = value
                if self.verbose:
                    elapsed = time.perf_counter() - split_start
                    print(f"    {key}: {value:.5f}    | time: {elapsed:.2f}", flush=True)
        self.cb_time += time.perf_counter() - start
        if self.dump_path:
            self._dump()

    def _dump(self) -> None:
        record = {
            "epoch": self.model.epoch,
            "cb_time": self.cb_time,
            "tr_time": getattr(self.model, "tr_time", 0.0),
            "call_freq": self.call_freq,
            **self.results,
        }
        folder = os.path.dirname(os.path.abspath(self.dump_path))
        os.makedirs(folder, exist_ok=True)
        tmp = f"{self.dump_path}.tmp{os.getpid()}"
        with open(tmp, "wb") as f:
            pickle.dump(record, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, self.dump_path)  # never a half-written pickle
