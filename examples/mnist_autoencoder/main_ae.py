"""Hat's sparse autoencoder example, on the graph API: pretrain two sparse autoencoders, then
fine-tune a 784-500-500-10 classifier that starts from their hidden layers.

    python main_ae.py                      # 10 + 10 epochs of pretraining, 10 of fine-tuning
    python main_ae.py --baseline           # also the same classifier without pretraining
    python main_ae.py --ae-epochs 2 --finetune-epochs 1 --train-size 5000   # a quick run

Each autoencoder is a graph model: its output is the hidden layer (out_layers), and the
reconstruction is an extra observed node (any_layers). The loss is Hat's loss_func(md): the
squared reconstruction error plus a sparsity penalty, the KL divergence between a target
activation of 0.05 and each hidden unit's mean activation, written with hat.backend (K) and
hat.objectives. The original Hat reported 2.9% test error after fine-tuning (5.6% without
pretraining, 5 epochs); its script fine-tuned for 10 epochs, as this one does.
"""

import argparse
import json
import os
import time

import numpy as np

import hat.backend as K
import hat.objectives as obj
from hat import serializations
from hat.callbacks import Validation
from hat.datasets import mnist
from hat.layers.core import Dense, InputLayer
from hat.models import Model, Sequential
from hat.optimizers import Adam
from hat.preprocessing import sparse_to_categorical

N_HID, P_SPARSITY = 500, 0.05


def load(train_size=None):
    """MNIST as float32 rows in [0, 1]: the first 50,000 training images, and the test set."""
    x_train, y_train, x_test, y_test = mnist.load_data()
    scale = np.float32(1 / 255)
    tr_x = x_train[:50000].reshape(-1, 784).astype(np.float32) * scale
    te_x = x_test.reshape(-1, 784).astype(np.float32) * scale
    n = train_size or len(tr_x)
    return tr_x[:n], y_train[:n], te_x, y_test


def loss_mse(md):
    """How far the reconstruction (the any_layers node) is from the input (the target)."""
    return obj.mse(md.any_nodes_[0], md.gt_nodes_[0])


def loss_sparsity(md):
    """KL divergence of a 0.05 target activation from each hidden unit's mean activation."""
    return obj.kl_divergence(K.mean(md.out_nodes_[0], axis=0), P_SPARSITY * np.ones(N_HID))


def loss_total(md):
    return loss_mse(md) + loss_sparsity(md)


def train_autoencoder(tr_x, te_x, n_in: int, epochs: int, path: str) -> Model:
    """A sparse autoencoder n_in -> 500 -> n_in; the model's output is its hidden layer."""
    lay_in = InputLayer(n_in)
    lay_a1 = Dense(N_HID, act="sigmoid", name="a1")(lay_in)
    lay_a2 = Dense(n_in, act="sigmoid", name="a2")(lay_a1)
    md = Model(in_layers=[lay_in], out_layers=[lay_a1], any_layers=[lay_a2])
    md.summary()
    validation = Validation(
        tr_x=tr_x,
        tr_y=tr_x,
        te_x=te_x,
        te_y=te_x,
        batch_size=500,
        metrics=[loss_mse, loss_sparsity],
        call_freq=1,
        dump_path=None,
    )
    md.fit(x=tr_x, y=tr_x, batch_size=500, n_epochs=epochs, loss_func=loss_total,
           optimizer=Adam(1e-3), callbacks=[validation])  # fmt: skip
    serializations.save(md, path)
    return md


def classifier(W1=None, b1=None, W2=None, b2=None) -> Model:
    seq = Sequential()
    seq.add(InputLayer(784))
    seq.add(Dense(N_HID, act="sigmoid", W_init=W1, b_init=b1, name="a1"))
    seq.add(Dense(N_HID, act="sigmoid", W_init=W2, b_init=b2, name="a2"))
    seq.add(Dense(10, act="softmax", name="a3"))
    return seq.combine()


def finetune(md, tr_x, tr_y, te_x, te_y, epochs: int) -> float:
    """Train the classifier; returns its test error."""
    tr_y, te_y = sparse_to_categorical(tr_y, 10), sparse_to_categorical(te_y, 10)
    validation = Validation(
        tr_x=tr_x,
        tr_y=tr_y,
        te_x=te_x,
        te_y=te_y,
        batch_size=500,
        metrics=["categorical_error"],
        call_freq=1,
        dump_path=None,
    )
    md.fit(x=tr_x, y=tr_y, batch_size=500, n_epochs=epochs, loss_func="categorical_crossentropy",
           optimizer=Adam(1e-3), callbacks=[validation])  # fmt: skip
    return md.evaluate(te_x, te_y, batch_size=1000, metrics=["categorical_error"])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ae-epochs", type=int, default=10, help="epochs per autoencoder")
    parser.add_argument("--finetune-epochs", type=int, default=10)  # Hat's script: 10
    parser.add_argument("--train-size", type=int, default=None, help="first N images only")
    parser.add_argument("--baseline", action="store_true", help="also train without pretraining")
    parser.add_argument("--seed", type=int, default=1515)
    parser.add_argument("--out", default="Results")
    args = parser.parse_args(argv)
    np.random.seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    start = time.perf_counter()
    tr_x, tr_y, te_x, te_y = load(args.train_size)

    ae1 = train_autoencoder(tr_x, te_x, 784, args.ae_epochs, os.path.join(args.out, "md_ae1.h5"))
    hid_tr, hid_te = ae1.predict(tr_x, 1000), ae1.predict(te_x, 1000)  # the hidden layer
    ae2 = train_autoencoder(hid_tr, hid_te, N_HID, args.ae_epochs,
                            os.path.join(args.out, "md_ae2.h5"))  # fmt: skip
    a1 = serializations.load(os.path.join(args.out, "md_ae1.h5")).find_layer("a1")
    a2 = ae2.find_layer("a1")  # the second autoencoder's hidden layer
    md = classifier(a1.W_, a1.b_, a2.W_, a2.b_)
    results = {"test_error": finetune(md, tr_x, tr_y, te_x, te_y, args.finetune_epochs)}
    print(f"fine-tuned after pretraining: test error {results['test_error']:.2%}")
    if args.baseline:
        results["baseline_test_error"] = finetune(
            classifier(), tr_x, tr_y, te_x, te_y, args.finetune_epochs
        )
        print(f"without pretraining: test error {results['baseline_test_error']:.2%}")
    results["seconds"] = time.perf_counter() - start
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(f"{results['seconds']:.0f} s; results in {args.out}/results.json")
    return results


if __name__ == "__main__":
    main()
