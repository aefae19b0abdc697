"""BatchNorm over the global batch in a distributed fit: statistics combined over every shard.

Each BatchNorm layer meets the other shards twice a step, once in each direction. Forward:
every shard sends its (count, mean, centred sum of squares) per channel, computed on its own
samples in float64, and every rank combines all shards' in shard order with the parallel-
variance formula (Chan et al.): mean = sum(n_s m_s) / N, M2 = sum(M2_s + n_s (m_s - mean)^2).
Backward: the sums of the output gradient and of its product with xhat, summed in shard order.
Each exchange is one Allgather of every shard's vector (a rank's shards, then all ranks'), and
the combination runs alike on every rank, so the bits do not depend on the number of ranks.
The shards of one rank run in lockstep, one thread each on a replica of the model (its own
layer buffers), meeting at every exchange.

Backward in a shard's own units: fit weights shard s's gradients by w_s = n_s / n, so the
gradient of the global loss with respect to BatchNorm's output is w_s * g for a sample of s.
With T = sum over shards of w_s * sum(g) (and T2 likewise for g * xhat), a sample's input
gradient is gamma * inv_std * (g - T / (N * w_s) - xhat * T2 / (N * w_s)), N the number of
values per channel in the global batch.
"""

import threading

import numpy as np

from hat.kernels.activations import LINEAR


class StatsExchange:
    """Where the shards of one rank meet to gather their statistics with every other rank's."""

    def __init__(self, ctx, per_rank: int, shards: int):
        self.ctx, self.per_rank, self.shards = ctx, per_rank, shards
        self._slots: list = [None] * per_rank
        self._result = None
        self._gathered = threading.Barrier(per_rank, action=self._reduce)
        self._read = threading.Barrier(per_rank)
        self.calls = 0

    def _reduce(self) -> None:
        """In one thread, once this rank's shards have all arrived: every shard's vector,
        one row per shard in shard order."""
        mine = np.stack(self._slots)  # (per_rank, length) float64
        everyone = np.empty((self.shards,) + mine.shape[1:], np.float64)
        self.calls += 1
        where = f"BatchNorm statistics (exchange {self.calls})"
        self.ctx.allgather_bytes(mine.view(np.uint8).reshape(-1),
                                 everyone.view(np.uint8).reshape(-1), where)  # fmt: skip
        self._result = everyone

    def gather(self, j: int, vector: np.ndarray) -> np.ndarray:
        """Every shard's vector (float64), as rows in shard order: (shards, len(vector))."""
        self._slots[j] = np.ascontiguousarray(vector, np.float64)
        self._gathered.wait()
        result = self._result
        self._read.wait()  # nobody posts the next vector before everyone has this one
        return result

    def abort(self) -> None:
        """Release the threads waiting here (one shard failed)."""
        self._gathered.abort()
        self._read.abort()


class ShardStatistics:
    """What one shard's BatchNorm layers need: the exchange, the shard's index on this rank,
    its share of the batch and the global batch's size (set for every step)."""

    def __init__(self, exchange: StatsExchange, j: int):
        self.exchange, self.j = exchange, j
        self.weight, self.n_samples = 1.0, 0

    def gather(self, vector):
        return self.exchange.gather(self.j, vector)


def _in_shard_order(rows: np.ndarray) -> np.ndarray:
    """The sum of the rows, first to last (numpy's sum over an axis may pair them otherwise)."""
    total = rows[0].copy()
    for row in rows[1:]:
        total += row
    return total


def combine_moments(rows: np.ndarray, c: int) -> tuple[float, np.ndarray, np.ndarray]:
    """The global batch's (count, mean, biased variance) per channel from every shard's
    (count, mean, centred sum of squares), rows of 1 + 2c float64 values in shard order.

    Args:
        rows (np.ndarray): (shards, 1 + 2c): a shard's count, then its c means, then its c
            sums of squared deviations from its own mean.
        c (int): The number of channels.

    Returns:
        tuple[float, np.ndarray, np.ndarray]: N, the mean and M2 / N, both float64 (c,).
    """
    counts = rows[:, :1]
    count = float(_in_shard_order(counts)[0])
    mean = _in_shard_order(counts * rows[:, 1 : 1 + c]) / count
    spread = rows[:, 1 + c :] + counts * np.square(rows[:, 1 : 1 + c] - mean)
    return count, mean, _in_shard_order(spread) / count


def forward(layer, x3, y3, xhat, inv_std, act, alpha) -> None:
    """Training forward of `layer` (a BatchNorm) with the global batch's statistics."""
    from hat.kernels.normalization import _channel_sums, _normalize

    shard = layer.stats_exchange
    a, c, b = x3.shape
    mine = np.empty(1 + 2 * c, np.float64)  # count, mean, M2 (about this shard's own mean)
    mine[0] = a * b
    mean, m2 = mine[1 : 1 + c], mine[1 + c :]
    _channel_sums(x3, np.zeros(c), False, mean, 0, c)
    mean /= mine[0]
    _channel_sums(x3, mean, True, m2, 0, c)
    count, mean, var = combine_moments(shard.gather(mine), c)
    inv_std[...] = 1.0 / np.sqrt(var + layer.eps)
    gamma, beta = layer.params["gamma"].reshape(-1), layer.params["beta"].reshape(-1)
    _normalize(x3, mean, inv_std, gamma, beta, act, alpha, xhat, y3, 0, c)
    running_mean = layer.state["running_mean"].reshape(-1)
    running_var = layer.state["running_var"].reshape(-1)
    dtype = running_mean.dtype.type
    keep, take = dtype(layer.momentum), dtype(1.0 - layer.momentum)
    running_mean[...] = keep * running_mean + take * mean.astype(running_mean.dtype)
    unbiased = (var * (count / (count - 1.0))).astype(running_var.dtype)
    running_var[...] = keep * running_var + take * unbiased


def backward(layer, dy3, y3, act, alpha, xhat, dgamma, dbeta, dz, dx3, work) -> None:
    """Backward of `layer` after forward() above: dgamma, dbeta (this shard's sums) and dx."""
    from hat.kernels import normalization as kernels

    shard = layer.stats_exchange
    _, c, b = dy3.shape
    gamma = layer.params["gamma"].reshape(-1)
    empty = np.empty((0, c, b), dy3.dtype)
    kernels.batchnorm_backward(dy3, y3, act, alpha, xhat, gamma, layer._inv_std, True,
                               dgamma, dbeta, dz, empty, work, 0, c)  # fmt: skip
    rows = shard.gather(shard.weight * work[:, :c].reshape(-1))  # (w_s sum g, w_s sum g xhat)
    if dx3.shape[0] == 0:
        return
    means = _in_shard_order(rows) / (shard.n_samples * b * shard.weight)
    g = dz if act != LINEAR else dy3
    kernels.batchnorm_input_grad(g, xhat, gamma, layer._inv_std, means[:c], means[c:], dx3, 0, c)
