"""Hat's import path for the recurrent layers."""

from hat.layers.recurrent import GRU, LSTM, Bidirectional, RnnBase, SimpleRNN, SimpleRnn  # noqa: F401
