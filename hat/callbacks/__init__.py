"""Callbacks: Keras' hooks and Hat's protocol. See hat.callbacks.base for the contract."""

from hat.callbacks.base import Callback, CallbackError, CallbackList
from hat.callbacks.checkpoint import EarlyStopping, ModelCheckpoint
from hat.callbacks.hat_style import SaveModel, Validation
from hat.callbacks.logging import CSVLogger, LambdaCallback, PlotHistory, TerminateOnNaN
from hat.callbacks.lr import LearningRateScheduler, ReduceLROnPlateau
from hat.callbacks.progress import History, ProgbarLogger
from hat.callbacks.tensorboard import TensorBoard

__all__ = [
    "CSVLogger",
    "Callback",
    "CallbackError",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "PlotHistory",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "SaveModel",
    "TensorBoard",
    "TerminateOnNaN",
    "Validation",
]
