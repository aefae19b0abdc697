"""ONNX export of the three MNIST models of examples/mnist, trained briefly, checked by
onnxruntime on the 10,000 test images: max |onnxruntime - hat|, argmax agreement, export time,
file size against the weights' bytes.

    python benchmarks/bench_onnx.py                     # MLP, CNN, BN-CNN
    python benchmarks/bench_onnx.py --train-size 5000 --models mlp

Training (short on purpose: what is measured is the export, on weights away from their
initial values): the MLP (main_dnn.py) one epoch on the 50,000 training images, batch 500,
Adam 1e-3; the CNN (main_cnn.py) and the BN-CNN (cnn_bn.py) one epoch on the first
--train-size (default 10,000) images, batch 500 and 64, Adam 1e-3, no augmentation.
Export time: the second export of each model (the first also imports onnx).
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "mnist"
sys.path.insert(0, str(EXAMPLES))

from common import load_images  # noqa: E402

import hat.onnx  # noqa: E402
from hat.optimizers import Adam  # noqa: E402

BATCH = {"mlp": 500, "cnn": 500, "bn_cnn": 64}


def build(name):
    if name == "mlp":
        import main_dnn

        return main_dnn.build_model()
    if name == "cnn":
        import main_cnn

        return main_cnn.build_model()
    import cnn_bn

    return cnn_bn.build_model()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(BATCH), choices=list(BATCH))
    parser.add_argument("--train-size", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=1515)
    args = parser.parse_args(argv)
    tr_x, tr_y, _, _, te_x, te_y = load_images()
    rows = []
    for name in args.models:
        np.random.seed(args.seed)
        md = build(name)
        n = len(tr_x) if name == "mlp" else args.train_size
        x = tr_x[:n].reshape(n, -1) if name == "mlp" else tr_x[:n]
        test = te_x.reshape(len(te_x), -1) if name == "mlp" else te_x
        start = time.perf_counter()
        md.fit(x, tr_y[:n], batch_size=BATCH[name], n_epochs=1, optimizer=Adam(1e-3), verbose=0)
        train_s = time.perf_counter() - start
        accuracy = md.evaluate(test, te_y, batch_size=1000, metrics=["accuracy"])
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, f"{name}.onnx")
            hat.onnx.export(md, path)  # the first call also imports onnx (0.1-0.2 s)
            report = hat.onnx.export(md, path)
            start = time.perf_counter()
            check = hat.onnx.verify(md, path, test)
            verify_s = time.perf_counter() - start
        weights = 4 * md.count_params()  # float32 params and state
        rows.append((name, n, train_s, accuracy, report, check, verify_s, weights))
        print(f"{name}: trained on {n} images in {train_s:.0f} s, test accuracy {accuracy:.2%}")
        print(f"  {check}")
    print()
    print("| model | max abs diff | argmax equal | export s | file bytes | weight bytes | "
          "file / weights | verify s (10,000) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for name, _, _, _, report, check, verify_s, weights in rows:
        print(
            f"| {name} | {check.max_abs_diff:.2e} | {check.argmax_equal} / {check.n_samples} | "
            f"{report.seconds:.3f} | {report.file_bytes:,} | {weights:,} | "
            f"{report.file_bytes / weights:.4f} | {verify_s:.2f} |"
        )


if __name__ == "__main__":
    main()
