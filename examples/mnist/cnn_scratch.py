"""The classic from-scratch MNIST CNN: 16 and 32 filters 5x5 (padding 2), max-pooling, a dense
layer of 120, trained with SGD and Nesterov momentum, batch 50, L2 regularization.

    python cnn_scratch.py              # 20 epochs, lr 0.01, seed 1515, out/cnn_scratch

Its author used lr 0.1 with plain numpy; with momentum 0.9 that step is ten times too large
(the effective step is lr / (1 - momentum) = 1.0) and the loss diverges, in hat as in PyTorch.
lr 0.01 with momentum 0.9 trains smoothly; the rate is halved every 5 epochs.
"""

from common import load_images, parse_args, run, seed, start_distributed, train

from hat.callbacks import LearningRateScheduler
from hat.layers.conv import Conv2D
from hat.layers.core import Dense, Flatten, InputLayer
from hat.layers.pooling import MaxPool2D
from hat.models import Sequential
from hat.optimizers import SGD
from hat.regularizations import L2

L2_FACTOR = 2.5e-4  # hat's L2 adds l2 * sum(W**2): torch's weight_decay 5e-4 on the weights


def build_model():
    seq = Sequential()
    seq.add(InputLayer((1, 28, 28)))
    seq.add(Conv2D(16, 5, 5, act="relu", border_mode=(2, 2), W_reg=L2(L2_FACTOR)))
    seq.add(MaxPool2D((2, 2)))
    seq.add(Conv2D(32, 5, 5, act="relu", border_mode=(2, 2), W_reg=L2(L2_FACTOR)))
    seq.add(MaxPool2D((2, 2)))
    seq.add(Flatten())
    seq.add(Dense(120, act="relu", W_reg=L2(L2_FACTOR)))
    seq.add(Dense(10, act="softmax", W_reg=L2(L2_FACTOR)))
    return seq.combine()


def main(argv=None) -> float:
    args = parse_args(__doc__, epochs=20, batch_size=50, argv=argv)
    distributed = start_distributed(args)  # {} without --distributed
    seed(args.seed)
    data = load_images(args.train_size)
    md = build_model()
    md.summary()
    halve = LearningRateScheduler(lambda epoch, lr: 0.01 * 0.5 ** (epoch // 5))
    return train(
        md,
        args,
        data,
        "cnn_scratch",
        callbacks=[halve],
        optimizer=SGD(lr=0.01, momentum=0.9, nesterov=True),
        **distributed,
    )


if __name__ == "__main__":
    run(main)
