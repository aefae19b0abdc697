"""Where does batch normalization help LeNet-5? Five variants, the same data and seed:

    lenet          no BatchNorm
    lenet_bn1      BatchNorm after the first convolution
    lenet_bn2      after both convolutions
    lenet_fc_bn1   also after the first dense layer
    lenet_fc_bn2   also after the second dense layer

    python lenet_bn.py                          # all five, 10 epochs each, batch 64, Adam
    python lenet_bn.py --variants lenet lenet_bn2 --epochs 3

Writes one PNG comparing the training and validation accuracy curves, and a markdown table
of the final accuracies and the time per epoch, to --out (default out/lenet_bn).
"""

import argparse
import json
import os
import time

from common import export, load_images, run, seed

from hat.layers.conv import Conv2D
from hat.layers.core import Activation, Dense, Flatten, InputLayer
from hat.layers.normalization import BatchNorm
from hat.layers.pooling import MaxPool2D
from hat.models import Sequential
from hat.optimizers import Adam

# variant -> how many of LeNet's four hidden layers (conv1, conv2, fc1, fc2) get BatchNorm
VARIANTS = {"lenet": 0, "lenet_bn1": 1, "lenet_bn2": 2, "lenet_fc_bn1": 3, "lenet_fc_bn2": 4}


def build_model(n_batchnorm: int):
    """LeNet-5 for 28x28 digits; BatchNorm after the first n_batchnorm hidden layers."""
    hidden = [Conv2D(6, 5, 5, border_mode=(2, 2)), Conv2D(16, 5, 5), Dense(120), Dense(84)]
    seq = Sequential()
    seq.add(InputLayer((1, 28, 28)))
    for index, layer in enumerate(hidden):
        if index == 2:
            seq.add(Flatten())
        seq.add(layer)
        if index < n_batchnorm:
            seq.add(BatchNorm(momentum=0.9))
        seq.add(Activation("relu"))
        if index < 2:
            seq.add(MaxPool2D((2, 2)))
    seq.add(Dense(10, act="softmax"))
    return seq.combine()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--optimizer", choices=("adam",), default="adam")
    parser.add_argument("--seed", type=int, default=1515)
    parser.add_argument("--out", default=os.path.join("out", "lenet_bn"))
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2))
    parser.add_argument(
        "--export",
        metavar="PATH",
        default=None,
        help="a folder: each trained variant is written there as <variant>.onnx",
    )
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    data = load_images(args.train_size)
    tr_x, tr_y, va_x, va_y, te_x, te_y = data
    results = {}
    for name in args.variants:
        seed(args.seed)  # the same initial draw for every variant
        md = build_model(VARIANTS[name])
        print(f"== {name}: {md.count_params():,} weights")
        start = time.perf_counter()
        history = md.fit(
            tr_x,
            tr_y,
            batch_size=args.batch_size,
            n_epochs=args.epochs,
            optimizer=Adam(lr=1e-3),
            validation_data=(va_x, va_y),
            metrics=["accuracy"],
            verbose=args.verbose,
        )
        seconds = (time.perf_counter() - start) / args.epochs
        test = md.evaluate(te_x, te_y, batch_size=1000, metrics=["accuracy"])
        results[name] = {
            "history": history.history,
            "test_accuracy": test,
            "seconds_per_epoch": seconds,
        }
        print(f"   {name}: test accuracy {test:.2%}, {seconds:.1f} s per epoch")
        if args.export:
            os.makedirs(args.export, exist_ok=True)
            export(md, os.path.join(args.export, f"{name}.onnx"), te_x)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1, default=float)
    table = markdown_table(results)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(table)
    print(table)
    if not args.no_plot:
        plot(results, os.path.join(args.out, "lenet_bn.png"))
    return results


def markdown_table(results: dict) -> str:
    lines = [
        "| variant | train accuracy | validation accuracy | test accuracy | s per epoch |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, r in results.items():
        h = r["history"]
        lines.append(
            f"| {name} | {h['accuracy'][-1]:.2%} | {h['val_accuracy'][-1]:.2%} | "
            f"{r['test_accuracy']:.2%} | {r['seconds_per_epoch']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def plot(results: dict, path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is not installed: no plot; pip install matplotlib)")
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, key, title in zip(
        axes, ("accuracy", "val_accuracy"), ("training", "validation"), strict=True
    ):
        for name, r in results.items():
            values = r["history"][key]
            ax.plot(range(1, len(values) + 1), values, marker="o", label=name)
        ax.set_title(f"{title} accuracy")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"plot: {path}")


if __name__ == "__main__":
    run(main)
