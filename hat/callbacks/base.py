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
    """Base class of every callback: override Keras' hooks (on_epoch_end, ...) or Hat's call().

    The model calls `set_model` (Hat: `compile`) once, then the hooks below in order:
    `on_train_begin`, and per epoch `on_epoch_begin`, `on_batch_begin` and `on_batch_end` for
    each batch, `on_epoch_end`; last `on_train_end`. The base class's `on_train_begin` and
    `on_epoch_end` run `call()` when it is due, so a subclass that overrides them and still
    wants `call()` calls `super()`.

    Args:
        call_freq (int): Default 1. Run `call()` at epoch 0 and then every `call_freq` epochs.
        type (str): Default "epoch". Hat's callback type; only "epoch" is supported.

    Raises:
        ValueError: `call_freq` is not an int >= 1, or `type` is not "epoch".

    Attributes:
        model (Model | None): The model being trained, once `set_model` has run.
        logs (dict): The logs of the last moment `call()` ran at.
    """

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
        """Attach the model (Hat's name for `set_model`).

        Args:
            md (Model): The model that will call this callback.
        """
        self.model = md

    def call(self) -> None:
        """Hat-style work: runs at epoch 0 and every call_freq epochs.

        Read the model as `self.model` and the epoch's values as `self.logs`; set
        `self.model.stop_training = True` to stop.
        """

    @property
    def call_freq_(self) -> int:
        """Hat's name for `call_freq`."""
        return self.call_freq

    @property
    def type_(self) -> str:
        """Hat's name for `type`."""
        return self.type

    def _call_if_due(self, logs) -> None:
        epoch = self.model.epoch
        if epoch % self.call_freq == 0 and epoch != self._last_call_epoch:
            self._last_call_epoch = epoch
            self.logs = logs if logs is not None else {}
            self.call()

    # State that a checkpoint keeps, so a resumed run behaves as if it had never stopped
    def get_state(self) -> dict:
        """The state a checkpoint keeps, so that a resumed run behaves as if it never stopped.

        Subclasses with state extend the dict: `{**super().get_state(), "best": self.best}`.

        Returns:
            dict: JSON values and numpy arrays, by name.
        """
        return {"last_call_epoch": self._last_call_epoch}

    def set_state(self, state: dict) -> None:
        """Take back the state that `get_state` returned, when training resumes.

        Args:
            state (dict): What `get_state` returned when the checkpoint was written.
        """
        self._last_call_epoch = state.get("last_call_epoch")

    # Keras' hooks
    def set_model(self, model) -> None:
        """Attach the model (Keras' name; calls `compile`).

        Args:
            model (Model): The model that will call this callback.
        """
        self.compile(model)

    def on_train_begin(self, logs=None):
        """Called once when `fit` starts; runs `call()` (epoch 0).

        Args:
            logs (dict | None): Default None. The values of the moment: the epoch's loss
                and metrics (`loss`, `val_loss`, ...) at an epoch's end, the batch's loss at
                a batch's end.
        """
        self._call_if_due(logs)

    def on_train_end(self, logs=None):
        """Called once when `fit` ends, stopped early or not.

        Args:
            logs (dict | None): Default None. The values of the moment: the epoch's loss
                and metrics (`loss`, `val_loss`, ...) at an epoch's end, the batch's loss at
                a batch's end.
        """
        pass

    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of each epoch.

        Args:
            epoch (int): The epoch about to run, counted from 0.
            logs (dict | None): Default None. The values of the moment: the epoch's loss
                and metrics (`loss`, `val_loss`, ...) at an epoch's end, the batch's loss at
                a batch's end.
        """
        pass

    def on_epoch_end(self, epoch, logs=None):
        """Called at the end of each epoch; runs `call()` when due.

        Args:
            epoch (int): The epoch just finished, counted from 0.
            logs (dict | None): Default None. The values of the moment: the epoch's loss
                and metrics (`loss`, `val_loss`, ...) at an epoch's end, the batch's loss at
                a batch's end.
        """
        self._call_if_due(logs)

    def on_batch_begin(self, batch, logs=None):
        """Called before each training batch.

        Args:
            batch (int): The batch's index within the epoch, from 0.
            logs (dict | None): Default None. The values of the moment: the epoch's loss
                and metrics (`loss`, `val_loss`, ...) at an epoch's end, the batch's loss at
                a batch's end.
        """
        pass

    def on_batch_end(self, batch, logs=None):
        """Called after each training batch.

        Args:
            batch (int): The batch's index within the epoch, from 0.
            logs (dict | None): Default None. The values of the moment: the epoch's loss
                and metrics (`loss`, `val_loss`, ...) at an epoch's end, the batch's loss at
                a batch's end.
        """
        pass


class CallbackList:
    """Fans each hook out to every callback, naming the callback when one raises.

    Callbacks that write checkpoints run after the others (a stable reordering), so the file
    they write at an epoch's end holds every other callback's state for that epoch. `fit`
    builds one; its hooks take the same arguments as `Callback`'s.

    Args:
        callbacks (list[Callback]): The callbacks, in the order given to `fit`.
        model (Model): The model they watch; each callback's `set_model` is called with it.

    Raises:
        TypeError: An item of `callbacks` is not a `Callback`.
        CallbackError: A callback raised in a hook (from every hook method).
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
        """Run every callback's `on_train_begin`.

        Args:
            logs (dict): The logs passed on to each callback.
        """
        self._fan_out("on_train_begin", logs)

    def on_train_end(self, logs):
        """Run every callback's `on_train_end`.

        Args:
            logs (dict): The logs passed on to each callback.
        """
        self._fan_out("on_train_end", logs)

    def on_epoch_begin(self, epoch, logs):
        """Run every callback's `on_epoch_begin`.

        Args:
            epoch (int): The epoch about to run, from 0.
            logs (dict): The logs passed on to each callback.
        """
        self._fan_out("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs):
        """Run every callback's `on_epoch_end`.

        Args:
            epoch (int): The epoch just finished, from 0.
            logs (dict): The logs passed on to each callback.
        """
        self._fan_out("on_epoch_end", epoch, logs)

    def on_batch_begin(self, batch, logs):
        """Run every callback's `on_batch_begin`.

        Args:
            batch (int): The batch's index within the epoch.
            logs (dict): The logs passed on to each callback.
        """
        self._fan_out("on_batch_begin", batch, logs)

    def on_batch_end(self, batch, logs):
        """Run every callback's `on_batch_end`.

        Args:
            batch (int): The batch's index within the epoch.
            logs (dict): The logs passed on to each callback.
        """
        self._fan_out("on_batch_end", batch, logs)
