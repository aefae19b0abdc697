"""BatchNorm over the global batch in a distributed fit: statistics summed over every shard.

Forward needs each channel's sum and centred sum of squares over all shards, backward the
sums of the output gradient and of its product with xhat; each is summed in shard order
(a rank's shards, then all ranks' through one Allgather), so the bits do not depend on the
number of ranks. The shards of one rank run in lockstep, one thread each on a replica of
the model (its own layer buffers), meeting at every exchange.

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
    """Where the shards of one rank meet to sum their statistics with every other rank's."""

    def __init__(self, ctx, per_rank: int, shards: int):
        self.ctx, self.per_rank, self.shards = ctx, per_rank, shards
        self._slots: list = [None] * per_rank
        self._result = None
        self._gathered = threading.Barrier(per_rank, action=self._reduce)
        self._read = threading.Barrier(per_rank)
        self.calls = 0

    def _reduce(self) -> None:
        """In one thread, once this rank's shards have all arrived: every shard's vector,
        summed in shard order."""
        mine = np.stack(self._slots)  # (per_rank, length) float64
        everyone = np.empty((self.shards,) + mine.shape[1:], np.float64)
        self.calls += 1
        where = f"BatchNorm statistics (exchange {self.calls})"
        self.ctx.allgather_bytes(mine.view(np.uint8).reshape(-1),
                                 everyone.view(np.uint8).reshape(-1), where)  # fmt: skip
        total = everyone[0].copy()
        for s in range(1, self.shards):
            total += everyone[s]
        self._result = total

    def sum(self, j: int, vector: np.ndarray) -> np.ndarray:
        """The sum over every shard of the global batch of each shard's vector (float64)."""
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

    def sum(self, vector):
        return self.exchange.sum(self.j, vector)


def forward(layer, x3, y3, xhat, inv_std, act, alpha) -> None:
    """Training forward of `layer` (a BatchNorm) with the global batch's statistics."""
    from hat.kernels.normalization import _channel_sums, _normalize

    shard = layer.stats_exchange
    _, c, b = x3.shape
    count = shard.n_samples * b
    sums = np.empty(c, np.float64)
    _channel_sums(x3, np.zeros(c), False, sums, 0, c)
    mean = shard.sum(sums) / count
    _channel_sums(x3, mean, True, sums, 0, c)
    var = shard.sum(sums) / count
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
    totals = shard.sum(shard.weight * work[:, :c].reshape(-1))  # (sum g, sum g * xhat)
    if dx3.shape[0] == 0:
        return
    scale_down = 1.0 / (shard.n_samples * b * shard.weight)
    mean_g = (totals[:c] * scale_down).astype(dx3.dtype).reshape(1, c, 1)
    mean_gh = (totals[c:] * scale_down).astype(dx3.dtype).reshape(1, c, 1)
    scale = (gamma * layer._inv_std.astype(dx3.dtype)).astype(dx3.dtype).reshape(1, c, 1)
    g = dz if act != LINEAR else dy3
    np.multiply(scale, g - mean_g - xhat * mean_gh, out=dx3)
