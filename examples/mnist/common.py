"""What the MNIST CNN examples share: the command line, the data as images, the outputs."""

import argparse
import json
import os
import sys
import time

import numpy as np
from prepare_data import exit_on_dataset_error, load_data

from hat.callbacks import Validation
from hat.preprocessing import sparse_to_categorical


def parse_args(
    doc: str, epochs: int, batch_size: int, argv=None, augment: bool = False, flags=(), width=None
):
    """The examples' command line; flags: extra (--name, help) switches of one script; width:
    the default of a --width option (a model's channel count), for scripts that have one."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=epochs, help=f"default {epochs}")
    parser.add_argument("--batch-size", type=int, default=batch_size, help=f"default {batch_size}")
    parser.add_argument("--seed", type=int, default=1515, help="numpy seed (default 1515)")
    parser.add_argument("--out", default=None, help="folder for history, plots, checkpoints")
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    parser.add_argument(
        "--train-size", type=int, default=None, help="train on the first N images only (quick runs)"
    )
    add_export_argument(parser)
    if augment:
        parser.add_argument(
            "--no-augment", action="store_true", help="no random shifts of the training images"
        )
    for name, text in flags:
        parser.add_argument(name, action="store_true", help=text)
    if width is not None:
        parser.add_argument("--width", type=int, default=width, help=f"channels (default {width})")
    add_distributed_arguments(parser)
    return parser.parse_args(argv)


def add_distributed_arguments(parser) -> None:
    parser.add_argument(
        "--distributed",
        action="store_true",
        help="train data-parallel over MPI: run under mpiexec -n N (pip install mpi4py mpich)",
    )
    parser.add_argument(
        "--shards",
        type=int,
        default=None,
        help="with --distributed: pieces each batch is cut into (default: the number of ranks)",
    )


def start_distributed(args) -> dict:
    """fit's keyword arguments for --distributed (none without it). Joins the MPI job first,
    so that an error in any rank ends the job, and silences the ranks other than 0."""
    if not getattr(args, "distributed", False):
        return {}
    import hat.distributed as hd

    if hd.init().rank != 0 and sys.stdout is sys.__stdout__:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (for the life of the process)
    return {"distributed": True, "shards": args.shards}


def add_export_argument(parser) -> None:
    parser.add_argument(
        "--export",
        metavar="PATH",
        default=None,
        help="write the trained model to PATH as ONNX, checked by onnxruntime on the test images",
    )


def export(md, path: str, te_x) -> None:
    """The model as ONNX at `path`, verified against md.predict on the test images."""
    report = md.export(path, verify=te_x)
    print(
        f"exported {path}: {report.file_bytes:,} bytes ({report.weight_bytes:,} of float32 "
        f"weights) in {report.seconds:.2f} s\n{report.verification}"
    )


def run(main) -> None:
    """The scripts' entry: a dataset error is printed alone, with exit status 2."""
    exit_on_dataset_error(main)


def load_images(train_size=None):
    """MNIST as (N, 1, 28, 28) float32 images and one-hot labels: train, validation, test."""
    tr_x, tr_y, va_x, va_y, te_x, te_y = load_data()
    if train_size:
        tr_x, tr_y = tr_x[:train_size], tr_y[:train_size]
    images = [x.reshape(-1, 1, 28, 28) for x in (tr_x, va_x, te_x)]
    labels = [sparse_to_categorical(y, 10) for y in (tr_y, va_y, te_y)]
    return images[0], labels[0], images[1], labels[1], images[2], labels[2]


def train(md, args, data, name: str, **fit_kwargs) -> float:
    """fit with validation curves, the test accuracy printed each epoch, the History and a PNG
    of the curves written to --out; returns the final test accuracy."""
    tr_x, tr_y, va_x, va_y, te_x, te_y = data
    fit_kwargs = {**start_distributed(args), **fit_kwargs}  # --distributed in every script
    out = args.out or os.path.join("out", name)
    os.makedirs(out, exist_ok=True)
    callbacks = [
        Validation(
            te_x=te_x,
            te_y=te_y,
            batch_size=1000,
            metrics=["accuracy"],
            call_freq=1,
            dump_path=os.path.join(out, "validation.p"),
        )
    ]
    try:
        from hat.callbacks import PlotHistory

        callbacks.append(PlotHistory(os.path.join(out, "curves.png")))
    except ImportError:
        print("(matplotlib is not installed: no plot; pip install matplotlib)")
    from hat.distributed import writes_here

    start = time.perf_counter()
    history = md.fit(
        tr_x,
        tr_y,
        batch_size=args.batch_size,
        n_epochs=args.epochs,
        validation_data=(va_x, va_y),
        metrics=["accuracy"],
        callbacks=callbacks + fit_kwargs.pop("callbacks", []),
        verbose=args.verbose,
        **fit_kwargs,
    )
    elapsed = time.perf_counter() - start
    if fit_kwargs.get("distributed"):  # the test set split over the ranks
        from hat.distributed import evaluate

        accuracy = evaluate(md, te_x, te_y, batch_size=1000, metrics=["accuracy"])
    else:
        accuracy = md.evaluate(te_x, te_y, batch_size=1000, metrics=["accuracy"])
    record = {
        "epoch": history.epoch,
        "history": history.history,
        "test_accuracy": accuracy,
        "seconds": elapsed,
    }
    if writes_here():  # rank 0 alone in an MPI job
        with open(os.path.join(out, "history.json"), "w") as f:
            json.dump(record, f, indent=1, default=float)
    print(
        f"test accuracy after {md.epoch} epochs: {accuracy:.2%} ({elapsed:.0f} s); "
        f"history and curves in {out}"
    )
    if args.export and writes_here():
        export(md, args.export, te_x)
    return accuracy


def seed(value: int) -> None:
    np.random.seed(value)
