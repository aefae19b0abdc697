"""TensorBoard: the loss, the metrics and the learning rate (and weight histograms) as event
files, in Keras 3's layout. hat writes the files itself (hat/tensorboard_events.py)."""

import numbers
import os

from hat.callbacks.base import Callback
from hat.tensorboard_events import EventFileWriter, histogram_value, scalar_value


class TensorBoard(Callback):
    """Logs for TensorBoard, with Keras' argument names, folders and tags.

    `log_dir/train` receives `epoch_loss`, `epoch_<metric>` for every other logged value and
    `epoch_learning_rate`, at step = the epoch index (from 0); `log_dir/validation` receives
    the `val_` values without their prefix (`epoch_loss`, `epoch_accuracy`, ...). With
    update_freq other than 'epoch', `batch_loss` and `batch_learning_rate` go to train every
    that many batches, at step = the batch count (carried over between fit calls, from
    the model's iteration count). With histogram_freq = n > 0, every n epochs each layer's
    params and state are written as histograms tagged `<layer>/<weight>/histogram` (Keras
    tags `<weight>/histogram`, which repeats between layers). The learning-rate scheduler's
    `lr` entry is left out: `epoch_learning_rate` holds it.

    Run `tensorboard --logdir <log_dir>` to watch a run; the files stay readable if it is
    killed, as each record is flushed when written.

    Args:
        log_dir (str | PathLike): Default "logs". The folder for the train/ and validation/
            runs (created when the first value is written).
        histogram_freq (int): Default 0. Write weight histograms every this many epochs; 0:
            never.
        update_freq (str | int): Default "epoch". 'epoch' writes per epoch only; 'batch'
            also writes the batch loss after every batch; an int N, after every N batches.

    Raises:
        TypeError: `log_dir` is not a folder path.
        ValueError: `histogram_freq` is not an int >= 0, or `update_freq` is not "epoch",
            "batch" or an int >= 1.
    """

    def __init__(self, log_dir="logs", histogram_freq: int = 0, update_freq="epoch"):
        super().__init__()
        if not isinstance(log_dir, (str, os.PathLike)):
            raise TypeError(f"log_dir must be a folder path; got {log_dir!r}")
        if isinstance(histogram_freq, bool) or not isinstance(histogram_freq, int):
            raise ValueError(f"histogram_freq must be an int >= 0; got {histogram_freq!r}")
        if histogram_freq < 0:
            raise ValueError(f"histogram_freq must be an int >= 0; got {histogram_freq!r}")
        if update_freq == "batch":
            every = 1
        elif update_freq == "epoch":
            every = None
        elif isinstance(update_freq, int) and not isinstance(update_freq, bool) and update_freq > 0:
            every = update_freq
        else:
            raise ValueError(
                f"update_freq must be 'epoch', 'batch' or an int >= 1; got {update_freq!r}"
            )
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq, self.update_freq, self._every = histogram_freq, update_freq, every
        self._writers: dict[str, EventFileWriter] = {}
        self._batch_step = 0

    def on_train_begin(self, logs=None):
        self._batch_step = self.model.iteration

    def on_batch_end(self, batch, logs=None):
        self._batch_step += 1
        if self._every is None or self._batch_step % self._every:
            return
        values = _scalars("batch_", {"loss": (logs or {}).get("loss")})
        values.append(scalar_value("batch_learning_rate", self.model.optimizer.current_lr()))
        self._write("train", self._batch_step, values)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            histograms = [
                histogram_value(f"{layer.name}/{key}/histogram", value)
                for layer in self.model.layers
                for key, value in (*layer.params.items(), *layer.state.items())
            ]
            if histograms:
                self._write("train", epoch, histograms)
        train = {k: v for k, v in logs.items() if not k.startswith("val_") and k != "lr"}
        train["learning_rate"] = self.model.optimizer.current_lr()
        validation = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        self._write("train", epoch, _scalars("epoch_", train))
        if validation:
            self._write("validation", epoch, _scalars("epoch_", validation))

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()

    def _write(self, run: str, step: int, values: list[bytes]) -> None:
        from hat.distributed import writes_here

        if not values or not writes_here():  # in an MPI job, rank 0 alone writes
            return
        writer = self._writers.get(run)
        if writer is None:
            writer = self._writers[run] = EventFileWriter(os.path.join(self.log_dir, run))
        writer.add(step, values)


def _scalars(prefix: str, logs: dict) -> list[bytes]:
    """Summary values for the real numbers among `logs` (a None or a string is left out)."""
    return [
        scalar_value(prefix + key, float(value))
        for key, value in logs.items()
        if isinstance(value, numbers.Real) and not isinstance(value, bool)
    ]
