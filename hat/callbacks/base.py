"""The callback protocol: Keras' hooks and Hat's (compile(md), call(), call_freq), side by side.

A Keras-style callback overrides on_epoch_end and friends. A Hat-style callback overrides
call(), which runs before training (at epoch 0) and then whenever the epoch count is a multiple
of call_freq. Callbacks stop training only by setting model.stop_training = True. A callback
with state worth keeping across a resume returns it from get_state() (JSON values and arrays)
and takes it back in set_state().
"""


class CallbackError(RuntimeError):
    """A callback raised; the message names it and the hook. The model stays usable."""


class Callback:
    """Base class of every callback: override Keras' hooks (on_epoch_end, ...) or Hat's call()."""

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

    # State that a checkpoint keeps, so a resumed run behaves as if it had never stopped
    def get_state(self) -> dict:
        return {"last_call_epoch": self._last_call_epoch}

    def set_state(self, state: dict) -> None:
        self._last_call_epoch = state.get("last_call_epoch")

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
    """Fans each hook out to every callback, naming the callback when one raises.

    Callbacks that write checkpoints run after the others (a stable reordering), so the file
    they write at an epoch's end holds every other callback's state for that epoch.
    """

    def __init__(self, callbacks, model):
        self.callbacks = sorted(callbacks, key=lambda cb: getattr(cb, "writes_checkpoints", False))
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
