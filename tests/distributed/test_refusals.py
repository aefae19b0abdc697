"""What a distributed fit refuses before its first collective (no MPI needed: a stand-in
Context of 2 ranks that fails the test if any collective is reached)."""

import numpy as np
import pytest

from hat.distributed import begin_fit
from hat.loss_plan import LossPlan
from hat.optimizers import SGD
from tests.helpers.toy import blobs, small_mlp


class TwoRanks:
    """Rank 0 of 2; any collective is a test failure."""

    rank, size, quiet = 0, 2, True

    def allgather(self, obj, label):
        pytest.fail(f"a collective was reached: {label}")

    broadcast = allgather


def _begin(batch_size, shards, model=None, n=40):
    x, y, _ = blobs(n=n)
    model = model or small_mlp()
    return begin_fit(
        TwoRanks(), model, shards, batch_size=batch_size, xs=[x], ys=[y], val=None,
        plan=LossPlan("categorical_crossentropy", 1), optimizer=SGD(0.1), target=1,
    )  # fmt: skip


def test_a_batch_that_shards_do_not_divide_is_refused():
    with pytest.raises(
        ValueError, match=r"batch_size=10 \(the global batch\) is not divisible by shards=4"
    ):
        _begin(10, 4)


def test_shards_that_the_ranks_cannot_share_are_refused():
    with pytest.raises(ValueError, match="shards=3 cannot be shared by 2 ranks"):
        _begin(12, 3)


@pytest.mark.parametrize("shards", [0, -2, 2.0, True, "4"])
def test_shards_must_be_a_positive_int(shards):
    with pytest.raises(ValueError, match=f"shards must be an int >= 1; got {shards!r}"):
        _begin(12, shards)


def test_shards_without_distributed_is_refused():
    x, y, _ = blobs(n=40)
    with pytest.raises(ValueError, match="shards=2 needs distributed=True"):
        small_mlp().fit(x, y, batch_size=8, n_epochs=1, verbose=0, shards=2)


def test_distributed_must_be_true_or_a_context():
    x, y, _ = blobs(n=40)
    with pytest.raises(TypeError, match="distributed must be True, False or a hat.distributed"):
        small_mlp().fit(x, y, batch_size=8, n_epochs=1, verbose=0, distributed="yes")
    assert np.isfinite(small_mlp().fit(x, y, n_epochs=1, verbose=0, distributed=False)
                       .history["loss"][0])  # fmt: skip


def test_a_last_batch_without_a_sample_for_every_shard_is_refused_with_batchnorm():
    from hat.layers.core import Dense, InputLayer
    from hat.layers.normalization import BatchNorm
    from hat.models import Sequential

    model = Sequential([InputLayer(20), Dense(8), BatchNorm(), Dense(3, act="softmax")]).combine()
    with pytest.raises(ValueError, match="the last batch holds 1 samples .* fewer than shards=4"):
        _begin(12, 4, model, n=37)
