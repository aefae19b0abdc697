"""Hat's MNIST multilayer perceptron (784-500-500-10, dropout 0.2, Adam), with a command line.

python main_dnn.py                 # 10 epochs, batch 500, seed 1515, files under out/dnn
python main_dnn.py --epochs 101    # the length of Hat's tutorial run
mpiexec -n 2 python main_dnn.py --distributed   # on 2 ranks (pip install mpi4py mpich)
"""

import argparse
import os

import numpy as np
from common import add_distributed_arguments, add_export_argument, export, run, start_distributed
from prepare_data import load_data

from hat.callbacks import SaveModel, Validation
from hat.distributed import predict, writes_here
from hat.layers.core import Dense, Dropout, InputLayer
from hat.models import Sequential
from hat.optimizers import Adam
from hat.preprocessing import sparse_to_categorical


def build_model():
    seq = Sequential()
    seq.add(InputLayer(784))
    seq.add(Dense(500, act="relu"))
    seq.add(Dropout(p_drop=0.2))
    seq.add(Dense(500, act="relu"))
    seq.add(Dropout(p_drop=0.2))
    seq.add(Dense(10, act="softmax"))
    return seq.combine()


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10, help="epochs to train (default 10)")
    parser.add_argument("--batch-size", type=int, default=500, help="default 500")
    parser.add_argument("--seed", type=int, default=1515, help="numpy seed (default 1515)")
    parser.add_argument(
        "--out",
        default=os.path.join("out", "dnn"),
        help="folder for checkpoints and validation.p (default out/dnn)",
    )
    parser.add_argument(
        "--save-freq", type=int, default=2, help="save the model every n epochs (default 2)"
    )
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    add_export_argument(parser)
    add_distributed_arguments(parser)
    args = parser.parse_args(argv)

    distributed = start_distributed(args)  # {} without --distributed
    np.random.seed(args.seed)
    tr_X, tr_y, va_X, va_y, te_X, te_y = load_data()
    tr_y, va_y, te_y = (sparse_to_categorical(y, 10) for y in (tr_y, va_y, te_y))

    md = build_model()
    md.summary()
    os.makedirs(args.out, exist_ok=True)
    validation = Validation(
        tr_x=tr_X,
        tr_y=tr_y,
        va_x=va_X,
        va_y=va_y,
        te_x=te_X,
        te_y=te_y,
        batch_size=500,
        metrics=["categorical_error"],
        call_freq=1,
        dump_path=os.path.join(args.out, "validation.p"),
    )
    save_model = SaveModel(dump_fd=os.path.join(args.out, "Md"), call_freq=args.save_freq)
    md.fit(
        x=tr_X,
        y=tr_y,
        batch_size=args.batch_size,
        n_epochs=args.epochs,
        loss_func="categorical_crossentropy",
        optimizer=Adam(lr=0.001),
        callbacks=[validation, save_model],
        verbose=args.verbose,
        **distributed,
    )

    pred_y = predict(md, te_X) if distributed else md.predict(te_X)  # split over the ranks
    accuracy = float((pred_y.argmax(axis=1) == te_y.argmax(axis=1)).mean())
    print(f"test accuracy after {md.epoch} epochs: {accuracy:.2%}")
    if args.export and writes_here():
        export(md, args.export, te_X)
    return accuracy


if __name__ == "__main__":
    run(main)
