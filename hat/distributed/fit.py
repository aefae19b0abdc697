"""One distributed fit: the checks before training, rank 0's state for all, the sharded step.

A global batch of n samples is cut into `shards` pieces (sizes differ by at most one, the
larger first). Rank r computes shards r*k .. r*k+k-1 (k = shards / ranks) one after another,
each from the same weights, generator state and BatchNorm state, so a shard's gradient does
not depend on which rank computes it. Each shard's gradient is scaled by its share of the
batch; all shards' gradients are gathered and summed in shard order on every rank, which
then makes the same update: the bits depend on `shards`, never on the number of ranks.
With BatchNorm, a rank's shards run at once on copies of the model, meeting at each
BatchNorm to sum their statistics with every other shard's (hat/distributed/batchnorm.py).
"""

import hashlib
import math
import os
import sys
import warnings

import numpy as np

from hat.layers.core import Dropout


class _GradientsOnly:
    """An optimizer that updates nothing: Model._train_step then only leaves the gradient."""

    def update(self, params, grads, segments=(), clip=None) -> None:
        pass


_GRADIENTS_ONLY = _GradientsOnly()


def shard_bounds(n: int, shards: int) -> list[int]:
    """The cuts of a batch of n samples into shards pieces: the first n % shards get one more."""
    small, extra = divmod(n, shards)
    sizes = [small + (1 if s < extra else 0) for s in range(shards)]
    return [0] + list(np.cumsum(sizes).tolist())


def _architecture(model) -> str:
    """A digest of the layers' types, configurations and parameter shapes, and the graph."""
    parts = []
    for layer in model.layers:
        shapes = {k: v.shape for k, v in (*layer.params.items(), *layer.state.items())}
        parts.append(f"{type(layer).__name__}:{sorted(layer.get_config().items())}:{shapes}")
    position = {id(node): i for i, node in enumerate(getattr(model, "nodes", []))}
    for node in getattr(model, "nodes", []):
        parts.append([position.get(id(parent)) for parent in node.inputs])
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:16]


def predict_all(ctx, model, xs, batch_size, with_any: bool):
    """model._predict_all with the samples split over the ranks and gathered in order:
    (outputs, any_layers' values), lists of arrays, the same on every rank."""
    local = type(model)._predict_all  # the class's: hat.distributed.predict shadows the model's
    n = xs[0].shape[0]
    cuts = [n * r // ctx.size for r in range(ctx.size + 1)]
    lo, hi = cuts[ctx.rank], cuts[ctx.rank + 1]
    if hi > lo:
        outs, anys = local(model, [a[lo:hi] for a in xs], batch_size, with_any)
    else:  # fewer samples than ranks: an empty share, shaped as the others'
        outs, anys = local(model, [a[:1] for a in xs], batch_size, with_any)
        outs, anys = [v[:0] for v in outs], [v[:0] for v in anys]
    gathered = []
    for part in outs + anys:
        part = np.ascontiguousarray(part)
        whole = np.empty((n,) + part.shape[1:], part.dtype)
        row = whole[:1].nbytes if n else 0
        counts = [(b - a) * row for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
        ctx.allgatherv_bytes(part.view(np.uint8).reshape(-1), whole.view(np.uint8).reshape(-1),
                             counts, "predictions split over the ranks")  # fmt: skip
        gathered.append(whole)
    return gathered[: len(outs)], gathered[len(outs) :]


def _replica(model):
    """A model of the same graph and weights with buffers of its own, through its file."""
    import tempfile

    from hat import io
    from hat.models import load_model

    with tempfile.TemporaryDirectory(prefix="hat-replica-") as folder:
        path = os.path.join(folder, "model.h5")
        io.save(model, path, include_optimizer=False)
        replica = load_model(path)
    replica.rng.bit_generator.state = model.rng.bit_generator.state
    return replica


class FitSession:
    """What a distributed fit keeps between its steps (see begin_fit)."""

    def __init__(self, ctx, model, shards, batch_size, xs, ys, val, plan, optimizer, target):
        self.ctx, self.model = ctx, model
        ranks = ctx.size
        shards = ranks if shards is None else shards
        if isinstance(shards, bool) or not isinstance(shards, (int, np.integer)) or shards < 1:
            raise ValueError(f"shards must be an int >= 1; got {shards!r}")
        self.shards = int(shards)
        # Local checks first (they fail alike on every rank given the same arguments, which
        # the agreement check then confirms); no collective has started yet.
        if self.shards % ranks:
            raise ValueError(
                f"shards={self.shards} cannot be shared by {ranks} ranks: each rank computes "
                f"shards / ranks of them. Use a multiple of {ranks}"
            )
        if batch_size % self.shards:
            raise ValueError(
                f"batch_size={batch_size} (the global batch) is not divisible by "
                f"shards={self.shards}; every shard must be the same size"
            )
        self._check_last_batch(xs[0].shape[0], batch_size)
        self._check_agreement(xs, ys, val, batch_size, plan, optimizer, target)
        self.per_rank = self.shards // ranks
        self._states = [v for layer in model.layers for v in layer.state.values()]
        # Train metrics as fit computes them: on the first output, not with Hat's loss_func(md).
        self._metrics = model.train_metrics if plan.per_output is not None else []
        self._layout(model)
        self._share_rank0_state(optimizer)
        self._replicas: list = []
        self._replica_states: dict = {}
        self._shard_stats: list = []
        self._global_bn = self._setup_global_batchnorm(xs[0].shape[0], batch_size)
        self._quiet = ctx.rank != 0 and ctx.quiet
        if self._quiet:
            self._stdout, sys.stdout = sys.stdout, open(os.devnull, "w")  # noqa: SIM115
            self._warnings = warnings.catch_warnings()
            self._warnings.__enter__()
            warnings.simplefilter("ignore")
        if self._global_bn is not None:
            warnings.warn(self._global_bn, stacklevel=4)
        from hat import distributed

        distributed._fitting[id(model)] = ctx  # callbacks' predictions split (split_in_fit)

    # -- before training -------------------------------------------------------------------
    def _check_last_batch(self, n: int, batch_size: int) -> None:
        """With BatchNorm over the global batch, every shard of the last batch needs a sample."""
        from hat.layers.normalization import BatchNorm

        last = n % batch_size
        if 0 < last < self.shards and any(
            isinstance(la, BatchNorm) and not la.frozen for la in self.model.layers
        ):
            raise ValueError(
                f"the last batch holds {last} samples ({n} samples, batch_size={batch_size}), "
                f"fewer than shards={self.shards}: with BatchNorm every shard needs a sample. "
                "Use a batch_size or a training set size that leaves 0 or at least "
                f"{self.shards} samples for the last batch"
            )

    def _check_agreement(self, xs, ys, val, batch_size, plan, optimizer, target) -> None:
        """Refuse what would deadlock later: every rank must see the same run."""
        model = self.model
        mine = {
            "training samples": xs[0].shape[0],
            "sample shapes": [(a.shape[1:], str(a.dtype)) for a in xs],
            "target shapes": [(a.shape[1:], str(a.dtype)) for a in ys],
            "data checksum": [float(np.nansum(a, dtype=np.float64)) for a in xs + ys],
            "validation shapes": None if val is None else [a.shape for a in val[0] + val[1]],
            "batch_size": batch_size,
            "shards": self.shards,
            "model seed": model.seed,
            "architecture": _architecture(model),
            "loss": plan.name,
            "optimizer": type(optimizer).__name__,
            "epoch": model.epoch,
            "target epoch": target,
        }
        everyone = self.ctx.allgather(mine, "fit's start (the agreement check)")
        problems = [
            f"rank {rank} has {key}={theirs[key]!r}, rank 0 has {everyone[0][key]!r}"
            for rank, theirs in enumerate(everyone)
            for key in mine
            if theirs[key] != everyone[0][key]
        ]
        if problems:
            raise ValueError(
                "the ranks disagree before training, which would deadlock or diverge later; "
                "give every rank the same data, model (and seed) and fit arguments: "
                + "; ".join(problems)
            )

    def _setup_global_batchnorm(self, n: int, batch_size: int) -> str | None:
        """Give each BatchNorm the exchange that makes it normalize by the global batch, and
        build the replicas on which this rank's other shards run. Returns a warning when it
        cannot (BatchNorm then normalizes each shard by its own statistics), else None."""
        from hat.distributed.batchnorm import ShardStatistics, StatsExchange
        from hat.layers.normalization import BatchNorm

        model = self.model
        if self.shards == 1 or not any(
            isinstance(la, BatchNorm) and not la.frozen for la in model.layers
        ):  # one shard is the global batch: BatchNorm's own kernels, plain fit's bits
            return None
        try:
            self._replicas = [_replica(model) for _ in range(self.per_rank - 1)]
        except Exception as err:  # a layer that the model file cannot rebuild
            return (
                f"BatchNorm normalizes each shard by its own statistics: the model could not "
                f"be copied for this rank's {self.per_rank} shards ({err}); use as many ranks "
                "as shards for the global batch's statistics"
            )
        self._exchange = StatsExchange(self.ctx, self.per_rank, self.shards)
        for j, target in enumerate([model] + self._replicas):
            self._shard_stats.append(ShardStatistics(self._exchange, j))
            for layer in target.layers:
                if isinstance(layer, BatchNorm):
                    layer.stats_exchange = self._shard_stats[j]
            if target is not model:
                self._replica_states[target] = [
                    v for layer in target.layers for v in layer.state.values()
                ]
        return None

    def _share_rank0_state(self, optimizer) -> None:
        """Rank 0's weights, optimizer state and generator state on every rank."""
        model = self.model
        mine = (
            {
                "weights": model.get_weights(),
                "optimizer": optimizer.state,
                "rng": model.rng.bit_generator.state,
                "iteration": model.iteration,
            }
            if self.ctx.rank == 0
            else None
        )
        state = self.ctx.broadcast(mine, "fit's start (rank 0's state)")
        if self.ctx.rank != 0:
            model.set_weights(state["weights"])
            optimizer.state = {k: np.array(v) for k, v in state["optimizer"].items()}
            model.rng.bit_generator.state = state["rng"]
            model.iteration = state["iteration"]

    def _layout(self, model) -> None:
        """One row of bytes per shard: the scaled gradient, then float64 extras (loss,
        finite flag, metrics, layer state)."""
        size = model._flat_grads.size
        self._grad_bytes = -(-size * model.dtype.itemsize // 8) * 8
        self._n_state = sum(v.size for v in self._states)
        self._n_extra = 2 + len(self._metrics) + self._n_state
        row = self._grad_bytes + 8 * self._n_extra
        self._send = np.zeros((self.per_rank, row), np.uint8)
        self._recv = np.zeros((self.shards, row), np.uint8)

    def _grads(self, rows, j):
        return rows[j, : self._grad_bytes].view(self.model.dtype)[: self.model._flat_grads.size]

    def _extras(self, rows, j):
        return rows[j, self._grad_bytes :].view(np.float64)

    # -- the step --------------------------------------------------------------------------
    def step(self, xbs, ybs, plan, optimizer, clip) -> tuple[float, list[float], bool]:
        """One global batch: (loss, train metrics, updated?), the same on every rank."""
        model, ctx = self.model, self.ctx
        n = xbs[0].shape[0]
        bounds = shard_bounds(n, self.shards)
        first = ctx.rank * self.per_rank
        mine = [(bounds[first + j], bounds[first + j + 1]) for j in range(self.per_rank)]
        rng = model.rng.bit_generator
        rng_before = rng.state
        for shard, (a, b) in zip(self._shard_stats, mine, strict=False):  # global BatchNorm
            shard.weight, shard.n_samples = (b - a) / n, n
        if self._replicas:  # global BatchNorm: this rank's shards in lockstep, one thread each
            rng_after = self._lockstep(xbs, ybs, plan, n, mine, rng_before)
        else:
            rng_after = self._one_by_one(xbs, ybs, plan, n, mine, rng_before)
        where = f"epoch {model.epoch + 1}, step {model.iteration + 1} (gradients)"
        ctx.allgather_bytes(self._send, self._recv, where)
        return self._combine(n, bounds, rng, rng_after, optimizer, clip)

    def _one_by_one(self, xbs, ybs, plan, n, mine, rng_before):
        """This rank's shards one after another on the model, each from the batch's start."""
        model, rng = self.model, self.model.rng.bit_generator
        states_before = [v.copy() for v in self._states]
        rng_after = None
        for j, (a, b) in enumerate(mine):
            if j:  # every shard starts where the batch started
                rng.state = rng_before
                for v, before in zip(self._states, states_before, strict=True):
                    v[...] = before
            if self._run_shard(model, j, xbs, ybs, plan, n, a, b):
                rng_after = rng.state
        return rng_after

    def _lockstep(self, xbs, ybs, plan, n, mine, rng_before):
        """This rank's shards at once, shard j on models[j], meeting at each BatchNorm."""
        import threading

        models = [self.model] + self._replicas
        for replica in self._replicas:  # the batch's starting point, as on the model
            replica._flat_params[...] = self.model._flat_params
            for v, source in zip(self._replica_states[replica], self._states, strict=True):
                v[...] = source
            replica.rng.bit_generator.state = rng_before
            replica.iteration = self.model.iteration
        errors: list = []

        def run(j):
            try:
                self._run_shard(models[j], j, xbs, ybs, plan, n, *mine[j])
            except BaseException as err:  # the others would wait at the next exchange
                errors.append(err)
                self._exchange.abort()

        threads = [
            threading.Thread(target=run, args=(j,), daemon=True) for j in range(1, len(models))
        ]
        for thread in threads:
            thread.start()
        run(0)
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return self.model.rng.bit_generator.state

    def _run_shard(self, model, j, xbs, ybs, plan, n, a, b) -> bool:
        """Shard j (samples a:b of the batch) on `model`, into row j of the send buffer;
        False for an empty shard."""
        grads, extras = self._grads(self._send, j), self._extras(self._send, j)
        if a == b:
            grads[...] = 0
            extras[...] = 0
            extras[1] = 1.0
            return False
        for layer in model.layers:
            if isinstance(layer, Dropout):
                layer.sample_offset = a  # masks keyed by the sample's index in the batch
        iteration = model.iteration
        xs, ys = [v[a:b] for v in xbs], [v[a:b] for v in ybs]
        try:
            value, outs, finite = model._train_step(xs, ys, plan, _GRADIENTS_ONLY, None)
        finally:
            model.iteration = iteration
            for layer in model.layers:
                if isinstance(layer, Dropout):
                    layer.sample_offset = 0
        weight = (b - a) / n
        np.multiply(model._flat_grads, model.dtype.type(weight), out=grads)
        extras[0], extras[1] = value * weight, float(finite)
        for i, (_, fn) in enumerate(self._metrics):
            extras[2 + i] = float(fn(ys[0], outs[0])) * weight
        start = 2 + len(self._metrics)
        states = self._states if model is self.model else self._replica_states[model]
        for v in states:
            extras[start : start + v.size] = v.reshape(-1) * weight
            start += v.size
        return True

    def _combine(self, n, bounds, rng, rng_after, optimizer, clip):
        model = self.model
        grads = model._flat_grads
        np.copyto(grads, self._grads(self._recv, 0))
        total = self._extras(self._recv, 0).copy()
        for s in range(1, self.shards):  # shard order, whatever the number of ranks
            grads += self._grads(self._recv, s)
            total += self._extras(self._recv, s)
        flags = [self._extras(self._recv, s)[1] for s in range(self.shards)]
        start = 2 + len(self._metrics)
        for v in self._states:
            v.reshape(-1)[...] = total[start : start + v.size]
            start += v.size
        if any(a == b for a, b in zip(bounds[:-1], bounds[1:], strict=True)):
            # Some rank held only empty shards and drew nothing: rank 0 holds shard 0, never empty.
            rng.state = self.ctx.broadcast(rng_after, "a short batch's generator state")
        elif rng_after is not None:
            rng.state = rng_after
        value = float(total[0])
        finite = all(f == 1.0 for f in flags) and math.isfinite(value)
        finite = finite and math.isfinite(float(grads.sum()))
        if finite:
            optimizer.update(model._flat_params, grads, model._segments, clip)
            model.iteration += 1
        else:
            first = self.ctx.rank * self.per_rank
            if all(f == 1.0 for f in flags[first : first + self.per_rank]):  # not this rank's
                model.divergence = "a shard computed on another rank, or the summed gradient"
        metrics = [float(v) for v in total[2 : 2 + len(self._metrics)]]
        return value, metrics, finite

    # -- decisions, validation, the end ----------------------------------------------------
    def any(self, flag: bool, where: str) -> bool:
        """A stop decision taken by every rank when any rank takes it; also the point where
        rank 0's files (checkpoints) are complete before any rank goes on."""
        return self.ctx.any(flag, where)

    def predict_all(self, xs, batch_size, with_any: bool):
        """model._predict_all with the samples split over the ranks (see predict_all)."""
        return predict_all(self.ctx, self.model, xs, batch_size, with_any)

    def finish(self) -> None:
        """After on_train_end: every rank waits for rank 0's last files."""
        self.ctx.barrier("the end of fit")

    def close(self) -> None:
        """Restore this rank's printing and BatchNorm (always runs, also after an error)."""
        from hat import distributed

        distributed._fitting.pop(id(self.model), None)
        for layer in self.model.layers:
            if hasattr(layer, "stats_exchange"):
                layer.stats_exchange = None
        if self._quiet:
            self._quiet = False
            sys.stdout.close()
            sys.stdout = self._stdout
            self._warnings.__exit__(None, None, None)
