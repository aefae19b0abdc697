"""hat.preprocessing's sequence helpers against hand-computed cases, and fit's message for
sequences of different lengths."""

import numpy as np
import pytest

from hat.preprocessing import (
    enframe,
    mat_2d_to_3d,
    pad_sequences,
    pad_trunc_seq,
    pad_trunc_seqs,
    reshape_3d_to_4d,
)

SEQS = [[1, 2, 3], [4, 5], [6, 7, 8, 9, 10], []]


def test_pad_sequences_defaults_pad_and_truncate_in_front():
    out = pad_sequences(SEQS, maxlen=4)
    assert out.dtype == np.int32 and out.shape == (4, 4)
    np.testing.assert_array_equal(out, [[0, 1, 2, 3], [0, 0, 4, 5], [7, 8, 9, 10], [0, 0, 0, 0]])


def test_pad_sequences_post_sides_value_and_longest():
    out = pad_sequences(SEQS, maxlen=4, padding="post", truncating="post", value=-1)
    np.testing.assert_array_equal(
        out, [[1, 2, 3, -1], [4, 5, -1, -1], [6, 7, 8, 9], [-1, -1, -1, -1]]
    )
    longest = pad_sequences(SEQS[:2], padding="post")
    np.testing.assert_array_equal(longest, [[1, 2, 3], [4, 5, 0]])
    # a sequence one step shorter than maxlen keeps all its steps (truncating='pre')
    np.testing.assert_array_equal(pad_sequences([[1, 2]], maxlen=3), [[0, 1, 2]])


def test_pad_sequences_of_vectors_arrays_and_objects():
    steps = [np.ones((2, 3)), np.full((1, 3), 2.0)]
    out = pad_sequences(steps, maxlen=3, dtype="float32")
    assert out.shape == (2, 3, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out[1], [[0, 0, 0], [0, 0, 0], [2, 2, 2]])
    objects = np.empty(2, dtype=object)
    objects[0], objects[1] = [5, 6, 7], [8]
    np.testing.assert_array_equal(pad_sequences(objects, maxlen=2), [[6, 7], [0, 8]])
    assert pad_sequences([], maxlen=3).shape == (0, 3)


def test_pad_sequences_errors():
    with pytest.raises(ValueError, match="padding must be 'pre' or 'post'; got 'middle'"):
        pad_sequences(SEQS, padding="middle")
    with pytest.raises(ValueError, match="maxlen must be an int >= 0; got -1"):
        pad_sequences(SEQS, maxlen=-1)
    with pytest.raises(TypeError, match=r"expected a sequence.*\(item 1\); got 7"):
        pad_sequences([[1], 7])
    with pytest.raises(ValueError, match="steps of one shape"):
        pad_sequences([np.ones((2, 3)), np.ones((2, 4))])


def test_pad_trunc_seq_hat_cases():
    x = np.array([[1.0, 1], [2, 2], [3, 3]])
    post, mask = pad_trunc_seq(x, 5)
    np.testing.assert_array_equal(post, [[1, 1], [2, 2], [3, 3], [0, 0], [0, 0]])
    np.testing.assert_array_equal(mask, [1, 1, 1, 0, 0])
    pre, mask = pad_trunc_seq(x, 5, pad_type="pre")
    np.testing.assert_array_equal(pre, [[0, 0], [0, 0], [1, 1], [2, 2], [3, 3]])
    np.testing.assert_array_equal(mask, [0, 0, 1, 1, 1])
    first, mask = pad_trunc_seq(x, 2)
    np.testing.assert_array_equal(first, [[1, 1], [2, 2]])
    np.testing.assert_array_equal(mask, [1, 1])
    last, _ = pad_trunc_seq(x, 2, pad_type="pre")
    np.testing.assert_array_equal(last, [[2, 2], [3, 3]])
    ids, mask = pad_trunc_seq([7, 8], 3)  # a list works, and ints stay ints
    assert ids.dtype.kind == "i" and mask.dtype == np.float64
    np.testing.assert_array_equal(ids, [7, 8, 0])


def test_pad_trunc_seqs_lists_and_arrays():
    x_new, mask = pad_trunc_seqs(SEQS, 3)
    assert isinstance(x_new, list) and isinstance(mask, list)
    np.testing.assert_array_equal(np.array(x_new), [[1, 2, 3], [4, 5, 0], [6, 7, 8], [0, 0, 0]])
    np.testing.assert_array_equal(np.array(mask), [[1, 1, 1], [1, 1, 0], [1, 1, 1], [0, 0, 0]])
    objects = np.empty(2, dtype=object)
    objects[0], objects[1] = [1, 2, 3, 4], [5]
    x_new, mask = pad_trunc_seqs(objects, 3, pad_type="pre")
    assert isinstance(x_new, np.ndarray) and x_new.shape == (2, 3)
    np.testing.assert_array_equal(x_new, [[2, 3, 4], [0, 0, 5]])
    np.testing.assert_array_equal(mask, [[1, 1, 1], [0, 0, 1]])
    with pytest.raises(ValueError, match="pad_type must be 'pre' or 'post'; got 'both'"):
        pad_trunc_seqs(SEQS, 3, pad_type="both")
    with pytest.raises(ValueError, match="max_len must be an int >= 1; got 0"):
        pad_trunc_seq([1], 0)


def test_enframe():
    frames = enframe(np.arange(10), win=4, inc=3)
    np.testing.assert_array_equal(frames, [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]])
    assert enframe(np.arange(3), 4, 1).shape == (0, 4)
    stereo = enframe(np.arange(12).reshape(6, 2), 2, 2)
    assert stereo.shape == (3, 2, 2) and stereo[2, 1, 1] == 11
    with pytest.raises(ValueError, match="inc must be an int >= 1; got 0"):
        enframe(np.arange(5), 2, 0)


def test_mat_2d_to_3d_and_reshape_3d_to_4d():
    X = np.arange(10.0).reshape(5, 2)
    blocks = mat_2d_to_3d(X, agg_num=3, hop=2)
    np.testing.assert_array_equal(blocks, [X[0:3], X[2:5]])
    short = mat_2d_to_3d(X[:2], agg_num=3, hop=1)  # padded to one block
    np.testing.assert_array_equal(short, [[[0, 1], [2, 3], [0, 0]]])
    images = reshape_3d_to_4d(blocks)
    assert images.shape == (2, 1, 3, 2) and images[1, 0, 2, 1] == 9
    with pytest.raises(ValueError, match="2-D array"):
        mat_2d_to_3d(np.arange(4), 2, 1)
    with pytest.raises(ValueError, match="3-D array"):
        reshape_3d_to_4d(X)


def test_fit_says_to_pad_sequences_of_different_lengths():
    from hat.layers import Dense, Embedding, GlobalAveragePooling1D, InputLayer
    from hat.models import Sequential

    seq = Sequential()
    for layer in (InputLayer(3), Embedding(11, 2), GlobalAveragePooling1D(), Dense(1)):
        seq.add(layer)
    md = seq.combine(seed=0)
    for x in (SEQS[:3], np.array(SEQS[:3], dtype=object)):
        with pytest.raises(ValueError, match=r"different lengths.*x\[1\] has 2.*pad_sequences"):
            md.fit(x=x, y=np.zeros(3), n_epochs=1, loss_func="mse", verbose=0)
