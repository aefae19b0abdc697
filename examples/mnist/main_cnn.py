"""Hat's own MNIST CNN, as Hat wrote it (two 3x3 convolutions, max-pooling, dropout, Adam).

    python main_cnn.py                 # 10 epochs, batch 500 (Hat's), seed 1515, out/main_cnn

Hat reported 1.15% test error after 10 epochs.
"""

from common import load_images, parse_args, run, seed, start_distributed, train

from hat.layers.cnn import Convolution2D
from hat.layers.core import Dense, Dropout, Flatten, InputLayer
from hat.layers.pool import MaxPool2D
from hat.models import Sequential
from hat.optimizers import Adam


def build_model():
    seq = Sequential()
    seq.add(InputLayer(in_shape=(1, 28, 28)))
    seq.add(Convolution2D(n_outfmaps=32, n_row=3, n_col=3, act="relu"))
    seq.add(MaxPool2D(pool_size=(2, 2)))
    seq.add(Convolution2D(n_outfmaps=32, n_row=3, n_col=3, act="relu"))
    seq.add(MaxPool2D(pool_size=(2, 2)))
    seq.add(Dropout(0.2))
    seq.add(Flatten())
    seq.add(Dense(500, act="relu"))
    seq.add(Dropout(0.5))
    seq.add(Dense(500, act="relu"))
    seq.add(Dense(10, act="softmax"))
    return seq.combine()


def main(argv=None) -> float:
    args = parse_args(__doc__, epochs=10, batch_size=500, argv=argv)
    distributed = start_distributed(args)  # {} without --distributed
    seed(args.seed)
    data = load_images(args.train_size)
    md = build_model()
    md.summary()
    return train(md, args, data, "main_cnn", optimizer=Adam(lr=0.001), **distributed)


if __name__ == "__main__":
    run(main)
