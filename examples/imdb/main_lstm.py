"""Hat's IMDB sentiment model: Embedding 20000 x 128, LSTM 128 over 80 tokens, the mean over
time, Dense 2 (softmax); Rmsprop lr 1e-3, batch 32.

python main_lstm.py                   # 2 epochs on the 25,000 training reviews, as Hat ran it
python main_lstm.py --epochs 1 --train-size 5000

The data is Keras' imdb.npz, looked for in $HAT_DATASETS/imdb and ~/.hat/datasets/imdb (or
--data PATH) and downloaded into the latter when it is missing. Without it and offline, the
script says where to put it and exits with status 2.
"""

import argparse
import sys

import numpy as np

from hat.callbacks import Validation
from hat.datasets import imdb
from hat.layers import Dense, Embedding, GlobalMeanTimePool, InputLayer
from hat.layers.rnn import LSTM
from hat.models import Sequential
from hat.optimizers import Rmsprop
from hat.preprocessing import pad_sequences, sparse_to_categorical


def load(path, num_words: int, maxlen: int, train_size: int | None):
    """(tr_x, tr_y, te_x, te_y): ids padded and cut to maxlen in front (Keras' default, so the
    LSTM's last steps are the review's last words), one-hot labels."""
    (tr_x, tr_y), (te_x, te_y) = imdb.load_data(path, num_words=num_words)
    if train_size is not None:
        tr_x, tr_y = tr_x[:train_size], tr_y[:train_size]
    tr_x, te_x = (pad_sequences(x, maxlen=maxlen).astype(np.float32) for x in (tr_x, te_x))
    return tr_x, sparse_to_categorical(tr_y, 2), te_x, sparse_to_categorical(te_y, 2)


def build_model(num_words: int, maxlen: int):
    seq = Sequential()
    seq.add(InputLayer(maxlen))
    seq.add(Embedding(n_vocab=num_words, n_out=128))
    seq.add(LSTM(n_out=128, act="tanh", return_sequence=True))
    seq.add(GlobalMeanTimePool())  # Hat's Lambda: the mean over time
    seq.add(Dense(2, act="softmax"))
    return seq.combine()


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2, help="epochs to train (default 2)")
    parser.add_argument("--batch-size", type=int, default=32, help="default 32")
    parser.add_argument("--num-words", type=int, default=20000, help="vocabulary (20000)")
    parser.add_argument("--maxlen", type=int, default=80, help="tokens per review (80)")
    parser.add_argument("--train-size", type=int, default=None, help="first N reviews only")
    parser.add_argument("--data", default="imdb.npz", help="imdb.npz's path or folder")
    parser.add_argument("--seed", type=int, default=1515, help="numpy seed (default 1515)")
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    args = parser.parse_args(argv)

    np.random.seed(args.seed)
    try:
        tr_x, tr_y, te_x, te_y = load(args.data, args.num_words, args.maxlen, args.train_size)
    except imdb.DatasetError as err:
        print(err, file=sys.stderr)
        raise SystemExit(2) from None

    md = build_model(args.num_words, args.maxlen)
    md.summary()
    validation = Validation(te_x=te_x, te_y=te_y, batch_size=500,
                            metrics=["categorical_error"], call_freq=1, dump_path=None)  # fmt: skip
    md.fit(
        x=tr_x,
        y=tr_y,
        batch_size=args.batch_size,
        n_epochs=args.epochs,
        loss_func="categorical_crossentropy",
        optimizer=Rmsprop(0.001),
        callbacks=[validation],
        verbose=args.verbose,
    )
    accuracy = float((md.predict(te_x, batch_size=500).argmax(1) == te_y.argmax(1)).mean())
    print(f"test accuracy after {md.epoch} epochs: {accuracy:.2%}")
    return accuracy


if __name__ == "__main__":
    main()
