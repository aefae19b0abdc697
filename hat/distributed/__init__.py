"""Data-parallel training over MPI: `md.fit(..., distributed=True)` under `mpiexec -n N`.

mpi4py is imported here alone, and only when a distributed fit or init() asks for it, so hat
without the `mpi` extra never loads it. The fit loop calls this package at a few named points
(setup, begin_fit, the step, the stop decisions, the end); docs/distributed.md has the semantics.
"""

import functools
from contextlib import contextmanager

from hat.distributed.context import DEFAULT_WATCHDOG, Context, check_watchdog

_context: Context | None = None

__all__ = [
    "Context",
    "begin_fit",
    "current",
    "evaluate",
    "init",
    "predict",
    "rank",
    "setup",
    "size",
    "split_in_fit",
    "writes_here",
]


def init(watchdog: float = DEFAULT_WATCHDOG, quiet: bool = True) -> Context:
    """Join the MPI job and arm the fault handling: an uncaught exception in any rank then
    ends the whole job (with that rank's traceback) instead of leaving the others waiting.

    Calling it at the top of a script covers the data loading too; fit(distributed=True)
    calls it itself otherwise. A second call returns the same Context with the new settings.

    Args:
        watchdog (float): Default 300.0. Seconds a rank may wait for the others in one
            collective before the job ends with a message naming the ranks that stalled.
        quiet (bool): Default True. Ranks other than 0 print nothing during fit.

    Returns:
        Context: This process's rank, the job's size and the collectives.

    Raises:
        ImportError: mpi4py is not installed (pip install mpi4py mpich).
        ValueError: watchdog is not a number > 0.
    """
    global _context
    if _context is None:
        _context = Context(watchdog=watchdog, quiet=quiet)
        _context.install_excepthook()
    else:
        _context.watchdog, _context.quiet = check_watchdog(watchdog), bool(quiet)
    return _context


def current() -> Context | None:
    """The Context of this process once init() (or a distributed fit) ran.

    Returns:
        Context | None: The Context, or None before init().
    """
    return _context


def rank() -> int:
    """This process's rank: 0 before init() and outside MPI.

    Returns:
        int: The rank.
    """
    return 0 if _context is None else _context.rank


def size() -> int:
    """The number of ranks: 1 before init() and outside MPI.

    Returns:
        int: The job's size.
    """
    return 1 if _context is None else _context.size


def writes_here() -> bool:
    """Whether this process writes files and prints progress: rank 0 only, once in a job.

    Returns:
        bool: True outside MPI and on rank 0.
    """
    return _context is None or _context.rank == 0


# The models in a distributed fit right now, by id, with their fit's Context (FitSession
# adds and removes them): split_in_fit reads it.
_fitting: dict[int, Context] = {}


@contextmanager
def _split_predictions(model, ctx: Context | None = None):
    """Inside: model's predictions split over the ranks of ctx (default: the job's) and
    gathered in order."""
    from hat.distributed.fit import predict_all

    if ctx is None:
        ctx = _context if _context is not None else init()
    model._predict_all = functools.partial(predict_all, ctx, model)  # shadows the method
    try:
        yield
    finally:
        del model._predict_all


@contextmanager
def split_in_fit(model):
    """Inside a distributed fit of model (in its callbacks), model.predict and model.evaluate
    split their samples over the ranks and gather the outputs in order, so every rank gets
    all of them for its share of the work; outside one, nothing changes. Every rank must run
    the same predictions, as the callbacks of a distributed fit do. Hat's Validation uses it.

    Args:
        model (hat.models.Model): The model that fit is training.

    Yields:
        bool: Whether the predictions are split (a distributed fit of model is running).
    """
    ctx = _fitting.get(id(model))
    if ctx is None or ctx.size == 1 or "_predict_all" in vars(model):  # already split
        yield False
        return
    with _split_predictions(model, ctx):
        yield True


def predict(model, x, batch_size: int | None = 100):
    """model.predict(x) with the samples split over the ranks; every rank gets all outputs,
    in order. Every rank must call it, with the same x.

    Args:
        model (hat.models.Model): The model (the same weights on every rank, as after a
            distributed fit).
        x (numpy.ndarray | list): The inputs, as for Model.predict.
        batch_size (int | None): Default 100. Samples per forward pass on each rank.

    Returns:
        numpy.ndarray | list: What model.predict(x) returns.
    """
    with _split_predictions(model):
        return model.predict(x, batch_size)


def evaluate(model, x, y, batch_size: int | None = 100, metrics=None, return_dict=False):
    """model.evaluate(...) with the predictions split over the ranks; every rank gets the
    same results. Every rank must call it, with the same data.

    Args:
        model (hat.models.Model): The model (the same weights on every rank).
        x (numpy.ndarray | list): The inputs, as for Model.evaluate.
        y (numpy.ndarray | list): The targets, as for Model.evaluate.
        batch_size (int | None): Default 100. Samples per forward pass on each rank.
        metrics (list | None): Default None. As for Model.evaluate.
        return_dict (bool): Default False. As for Model.evaluate.

    Returns:
        float | list | dict: What model.evaluate returns.
    """
    with _split_predictions(model):
        return model.evaluate(x, y, batch_size, metrics, return_dict)


def setup(distributed) -> Context:
    """fit's first call: the Context for fit(distributed=...).

    Args:
        distributed (bool | Context): True (the job's Context, init() if need be) or a Context.

    Returns:
        Context: The one fit uses.

    Raises:
        TypeError: distributed is neither True nor a Context.
    """
    if isinstance(distributed, Context):
        return distributed
    if distributed is not True:
        raise TypeError(
            f"distributed must be True, False or a hat.distributed.Context; got {distributed!r}"
        )
    return _context if _context is not None else init()


def begin_fit(ctx: Context, model, shards, **run):
    """fit's second call, after its own checks: the agreement check, rank 0's state for all.

    Args:
        ctx (Context): The job.
        model (hat.models.Model): The model being fit.
        shards (int | None): Pieces per global batch; None is the number of ranks.
        **run (object): Fit's checked arguments: batch_size, xs, ys, val, plan, optimizer, target.

    Returns:
        FitSession: What runs the steps (hat.distributed.fit).

    Raises:
        ValueError: shards is not an int >= 1, is not a multiple of the number of ranks, or
            does not divide batch_size; or the ranks disagree on the model or the data.
    """
    from hat.distributed.fit import FitSession

    return FitSession(ctx, model, shards, **run)
