"""Compiling the backward kernels ahead (hat.kernels.ahead): the declared argument types are
the ones the layers pass, the helper fills the cache, and a cold start trains the same bits."""

import ast
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numba.core import types

from hat.kernels import ahead
from hat.layers.conv import Conv2D
from hat.layers.core import Activation, Dense, Dropout, Flatten, InputLayer
from hat.layers.normalization import BatchNorm
from hat.layers.pooling import AvgPool2D, MaxPool2D
from hat.models import Sequential
from hat.optimizers import SGD, Adadelta, Adagrad, Adam, RMSprop
from hat.regularizations import L2

REPO = Path(__file__).resolve().parents[2]


def test_signature_reads_every_word():
    f32 = types.Array(types.float32, 3, "C")
    assert ahead.signature("A3 D1 I4 L1 i f b u", np.float32) == (
        f32,
        types.Array(types.float64, 1, "C"),
        types.Array(types.int32, 4, "C"),
        types.Array(types.int64, 1, "C"),
        types.int64,
        types.float64,
        types.boolean,
        types.uint64,
    )
    assert ahead.signature("A2", np.float64) == (types.Array(types.float64, 2, "C"),)
    assert ahead.signature("T2", np.float32) == (types.UniTuple(types.int64, 2),)
    with pytest.raises(ValueError, match="'X3'"):
        ahead.signature("A3 X3", np.float32)


def _every_path_model():
    """Winograd 3x3 (no input gradient) and 5x5, im2col with padding, BatchNorm with a fused
    ReLU, an unfused Activation, both poolings, Dropout, an L2 penalty."""
    seq = Sequential()
    seq.add(InputLayer((2, 10, 10)))
    seq.add(Conv2D(4, 3, 3, algorithm="winograd", trainable_params=["W"]))
    seq.add(BatchNorm())
    seq.add(Activation("relu"))
    seq.add(MaxPool2D((2, 2)))
    seq.add(Conv2D(3, 5, 5, border_mode=(2, 2), algorithm="winograd", act="tanh"))
    seq.add(Conv2D(3, 2, 2, border_mode=(1, 1), algorithm="im2col", act="relu"))
    seq.add(Activation("sigmoid"))
    seq.add(AvgPool2D((2, 2)))
    seq.add(Flatten())
    seq.add(Dropout(0.5))
    seq.add(Dense(3, act="softmax", W_reg=L2(1e-3)))
    return seq.combine(seed=0)


@pytest.mark.jit
def test_declared_kernels_are_the_ones_backward_calls():
    """Every (kernel, spec) a layer, a regularizer or an optimizer declares is a signature
    the kernel was really called with: a wrong spec would compile something unused."""
    md = _every_path_model()
    rng = np.random.default_rng(0)
    x = rng.random((6, 2, 10, 10), dtype=np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 6)]
    declared = []
    for optimizer in (Adam(1e-3), SGD(1e-2, momentum=0.9), RMSprop(), Adagrad(), Adadelta()):
        md.train_on_batch(x, y, "categorical_crossentropy", optimizer)
        declared += optimizer.update_kernels()
    for step in md._program.steps:
        if step.needs_grad:
            declared += step.runner.backward_kernels()
    declared += md.layers[-1].regularizers["W"].penalty_kernels()
    names = {kernel.py_func.__name__ for kernel, _ in declared}
    assert {"grad_tiles", "input_grad_tiles", "col2im", "batchnorm_backward"} <= names
    assert len(names) >= 14, names
    for kernel, spec in declared:
        sig = ahead.signature(spec, np.float32)
        assert sig in kernel.signatures, (kernel.py_func.__name__, spec, kernel.signatures)


@pytest.mark.jit
@pytest.mark.parametrize("act, params", [("relu", ("W", "b")), ("linear", ("W",))])
def test_a_one_channel_first_conv_declares_its_direct_weight_gradient(act, params):
    """One input channel, no input gradient: the weights' gradient read from the image
    (conv_direct.conv1_weight_grad, after ReLU's dz pass), declared with the signatures
    backward calls."""
    seq = Sequential()
    seq.add(InputLayer((1, 9, 9)))
    seq.add(Conv2D(5, 3, 3, act=act, border_mode=(1, 1), trainable_params=params))
    seq.add(Flatten())
    seq.add(Dense(3, act="softmax"))
    md = seq.combine(seed=0)
    rng = np.random.default_rng(0)
    x = rng.random((4, 1, 9, 9), dtype=np.float32)
    md.train_on_batch(
        x, np.eye(3, dtype=np.float32)[[0, 1, 2, 0]], "categorical_crossentropy", SGD(0.1)
    )
    declared = md.layers[1].backward_kernels()
    # with ReLU, dz in one pass first (activations.grad_row), then the tiles read dz only
    expected = (["grad_row"] if act == "relu" else []) + ["conv1_weight_grad"]
    assert [kernel.py_func.__name__ for kernel, _ in declared] == expected
    for kernel, spec in declared:
        assert ahead.signature(spec, np.float32) in kernel.signatures, kernel.signatures


@pytest.mark.jit
def test_the_recurrent_layers_declare_their_backward_loops():
    """SimpleRnn, LSTM and GRU (with masks, going backwards, returning sequences or not)
    declare the backward time loop they call, with its argument types; Embedding and Conv1D
    their kernels too."""
    from hat.layers import GRU, LSTM, Conv1D, Embedding, GlobalMeanTimePool, Input, SimpleRnn
    from hat.models import Model

    tokens = Input(5)
    h = Embedding(9, 3, mask_zero=True)(tokens)
    h = Conv1D(3, 2, act="relu", border_mode="same")(h)
    h = LSTM(4, go_backwards=True)(h)
    h = GRU(4)(h)
    h = GlobalMeanTimePool()(h)
    last = SimpleRnn(3, return_sequence=False)(Embedding(9, 2)(tokens))
    generic = LSTM(3, gate_act="hard_sigmoid", return_sequence=False)(Embedding(9, 2)(tokens))
    from hat.layers import Concatenate

    merged = Concatenate()([h, last, generic])
    md = Model([tokens], [Dense(2, act="softmax")(merged)], seed=0)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 9, (6, 5)).astype(np.float32)
    md.train_on_batch(ids, np.eye(2, dtype=np.float32)[rng.integers(0, 2, 6)],
                      "categorical_crossentropy", Adam(1e-3))  # fmt: skip
    declared = [c for step in md._program.steps for c in step.runner.backward_kernels()]
    names = {kernel.py_func.__name__ for kernel, _ in declared}
    # the default LSTM's fused loop; one with other activations, the generic loop
    assert {"lstm_run_back_fast", "lstm_run_back", "gru_run_back", "simple_run_back"} <= names
    assert {"scatter_add_rows", "col2im_1d", "activation_backward"} <= names
    for kernel, spec in declared:
        assert ahead.signature(spec, np.float32) in kernel.signatures, (kernel, spec)


@pytest.mark.jit
def test_helper_compiles_into_the_cache(tmp_path):
    from hat.kernels import conv

    sig = ahead.signature("A4 A4 i i", np.float32)
    jobs = [(conv.crop_from.py_func.__module__, "crop_from", sig), ("hat.kernels.conv", "no", sig)]
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "hat.kernels.ahead"],
        input=pickle.dumps(jobs), env=env, capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    assert done.stdout.split(b"\n") == [b"started 0", b"done 0", b"started 1", b"gone 1", b""]
    assert [p.name for p in tmp_path.rglob("*crop_from*.nbi")], sorted(tmp_path.rglob("*"))


COLD_STEP = """
import numpy as np
import hat.kernels.ahead as ahead
from tests.helpers.toy import blobs, small_mlp
started = []
start = ahead.start
ahead.start = lambda groups: started.append(start(groups)) or started[-1]
x, y, _ = blobs(n=40)
md = small_mlp()
print(repr(md.train_on_batch(x, y)), repr(md.train_on_batch(x, y)))
helper = started[0]
if helper is not None:
    helper.reader.join(120)  # the helper may still be at work after the step
print(None if helper is None else sorted(set(helper.state)))
"""


@pytest.mark.jit
def test_a_cold_start_with_the_helper_trains_the_same_bits(tmp_path):
    outs = {}
    for flag in ("1", "0"):
        env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / flag), "HAT_COMPILE_AHEAD": flag}
        outs[flag] = subprocess.run(
            [sys.executable, "-c", COLD_STEP], cwd=REPO, env=env, check=True,
            capture_output=True, text=True, timeout=300,
        ).stdout.splitlines()  # fmt: skip
    assert outs["1"][0] == outs["0"][0]  # the same two losses, to the last bit
    assert outs["0"][1] == "None"  # HAT_COMPILE_AHEAD=0: no helper
    if (os.cpu_count() or 1) > 1:
        # Each declared kernel compiled by the helper or taken back by the main process:
        # none failed in the helper ("gone").
        states = set(ast.literal_eval(outs["1"][1]))
        assert states and states <= {"done", "claimed"}, outs["1"]


@pytest.mark.jit
def test_a_helper_that_cannot_start_or_hangs_never_holds_up_training(monkeypatch):
    """No process can be spawned: start() returns None. A helper stuck on a job: wait()
    gives up after WAIT_LIMIT_S and the main process compiles the kernel itself."""
    import subprocess

    from hat.kernels import ahead

    def refuse(*args, **kwargs):
        raise OSError("fork refused")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    monkeypatch.setattr(ahead, "_is_ready", lambda kernel, sig: False)
    monkeypatch.setattr(ahead, "_enabled", lambda: True)
    from hat.kernels.optim import adam_update

    sig = tuple(adam_update.signatures[0]) if adam_update.signatures else None
    assert ahead.start([("optimizer", [(adam_update, sig)])]) is None

    stuck = object.__new__(ahead.Ahead)  # a helper that started job 0 and never finishes
    stuck.by_key, stuck.state, stuck.calls = {"layer": [0]}, ["started"], [(adam_update, sig)]
    stuck.changed = ahead.threading.Condition()

    class _Pipe:
        def write(self, data):
            pass

        def flush(self):
            pass

    stuck.process = type("P", (), {"stdin": _Pipe()})()
    monkeypatch.setattr(ahead, "WAIT_LIMIT_S", 0.2)
    began = ahead.time.monotonic()
    stuck.wait("layer")
    assert ahead.time.monotonic() - began < 5 and stuck.state == ["gone"]


@pytest.mark.jit
def test_declared_inference_kernels_are_the_ones_predict_calls():
    """A folded pool's kernels (both convolution paths), an unfolded pool's and an unfolded
    BatchNorm's, declared with the signatures predict really calls them with."""
    seq = Sequential()
    for layer in (
        InputLayer((2, 12, 12)),
        Conv2D(8, 3, 3, act="relu", border_mode="same"),  # im2col (2 channels), pool folded
        MaxPool2D(),
        Conv2D(8, 3, 3, act="relu", algorithm="winograd"),  # 6 x 6 -> 4 x 4, pool folded
        MaxPool2D(),
        Activation("tanh"),
        MaxPool2D(),  # after an Activation of its own: not folded
        Flatten(),
        Dense(4, act="relu"),
        BatchNorm(),  # after an activation: not folded
        Dense(3, act="softmax"),
    ):
        seq.add(layer)
    md = seq.combine(seed=0)
    md.predict(np.random.default_rng(0).random((5, 2, 12, 12), dtype=np.float32))
    declared = [c for step in md._program.steps for c in step.runner.inference_kernels()]
    names = [kernel.py_func.__name__ for kernel, _ in declared]
    assert names == [
        "im2col_pooled", "bias_act_max4", "output_tiles_pooled", "maxpool2x2_values",
        "batchnorm_forward_infer",
    ]  # fmt: skip
    for kernel, spec in declared:
        sig = ahead.signature(spec, np.float32)
        assert sig in kernel.signatures, (kernel.py_func.__name__, spec, kernel.signatures)


@pytest.mark.jit
def test_a_one_channel_folded_pool_declares_the_direct_kernel():
    """One input channel: the folded pool runs conv_direct.conv1_pooled (padded input too),
    declared with the signature predict calls it with."""
    seq = Sequential()
    for layer in (
        InputLayer((1, 12, 12)),
        Conv2D(6, 5, 5, act="relu", border_mode=(2, 2)),
        MaxPool2D(),
        Flatten(),
        Dense(3, act="softmax"),
    ):
        seq.add(layer)
    md = seq.combine(seed=0)
    md.predict(np.random.default_rng(0).random((5, 1, 12, 12), dtype=np.float32))
    declared = [c for step in md._program.steps for c in step.runner.inference_kernels()]
    assert [kernel.py_func.__name__ for kernel, _ in declared] == ["conv1_pooled"]
    for kernel, spec in declared:
        assert ahead.signature(spec, np.float32) in kernel.signatures, kernel.signatures
