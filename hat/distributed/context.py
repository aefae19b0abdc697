"""The MPI side of hat.distributed: collectives that cannot hang, the abort hook.

Every collective is posted non-blocking and waited for in a polling loop, which is also the
watchdog: a rank that has waited longer than the limit ends the job (MPI Abort), naming the
ranks that never arrived and where each was last seen. Before each collective every rank
sends its peers a small note (sequence number, place), which is how a waiting rank knows who is
missing and where they stopped. No second thread makes MPI calls: the ranks that notice a stall
are exactly the ones waiting in a collective, so the wait loop is the natural place to watch.
"""

import os
import pickle
import sys
import time
import traceback
from collections import deque

import numpy as np

NOTE_TAG = 1515  # the tag of the arrival notes, on a communicator of their own
"""The MPI tag of the arrival notes, on a communicator of their own."""
DEFAULT_WATCHDOG = 300.0  # seconds a rank may wait for the others in one collective
"""Seconds a rank may wait for the others in one collective before the job is ended."""
# Seconds a waiting rank polls, yielding its core between polls, before it sleeps between
# them. A sleeping rank wakes late (a 0.2 ms sleep took 0.27 ms here, often much more on a
# virtual machine's idle core), and then the others wait for it at the next collective.
SPIN_SECONDS = 0.02
ABORT_GRACE = 0.5  # seconds between printing why the job ends and MPI Abort


def _load_mpi():
    try:
        from mpi4py import MPI
    except ImportError:
        raise ImportError(
            "hat.distributed needs mpi4py and an MPI library: pip install mpi4py mpich "
            "(mpi4py and mpich from PyPI), or mpi4py built against your cluster's MPI"
        ) from None
    return MPI


def check_watchdog(value) -> float:
    """The watchdog limit as a float.

    Args:
        value (float): Seconds, > 0.

    Returns:
        float: value.

    Raises:
        ValueError: value is not a number > 0 (the message names it).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"watchdog must be a number of seconds > 0; got {value!r}")
    return float(value)


class Context:
    """One process's place in an MPI job: its rank, the job's size, hang-free collectives.

    Args:
        watchdog (float): Default 300.0. Seconds a rank may wait for the others in one
            collective before it ends the job, naming the ranks that did not arrive.
        quiet (bool): Default True. Ranks other than 0 print nothing during fit.
        comm (mpi4py.MPI.Comm | None): Default None. The communicator; None is COMM_WORLD.

    Raises:
        ValueError: watchdog is not a number > 0.
    """

    def __init__(self, watchdog: float = DEFAULT_WATCHDOG, quiet: bool = True, comm=None):
        watchdog = check_watchdog(watchdog)
        self.MPI = _load_mpi()
        base = comm if comm is not None else self.MPI.COMM_WORLD
        self.comm = base.Dup()
        self.notes = base.Dup()  # arrival notes never mix with the collectives' traffic
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.watchdog, self.quiet = float(watchdog), bool(quiet)
        self.seq = 0
        self.last_seen = {peer: (0, "the start", time.time()) for peer in self._peers()}
        self._pending: deque = deque()  # notes in flight: kept until MPI has sent them
        self.comm_seconds = 0.0  # time spent waiting in collectives (for the benchmark)
        self._aborting = False

    def _peers(self):
        return [peer for peer in range(self.size) if peer != self.rank]

    # -- faults ----------------------------------------------------------------------------
    def abort(self, message: str, code: int = 1) -> None:
        """Print message on stderr, each line tagged with this rank, and end the whole job.

        Args:
            message (str): What happened; printed once, each line tagged with the rank.
            code (int): Default 1. The exit status that MPI Abort gives the job.
        """
        if not self._aborting:
            self._aborting = True
            tag = f"[hat.distributed rank {self.rank}/{self.size}] "
            lines = message.rstrip("\n").splitlines() or [""]
            sys.stderr.write("".join(tag + line + "\n" for line in lines))
            sys.stderr.flush()
            sys.stdout.flush()
            # mpiexec forwards a rank's output asynchronously and may end before it has
            # passed on the last lines once Abort kills the job: give it a moment.
            time.sleep(ABORT_GRACE)
        self.MPI.COMM_WORLD.Abort(code)
        os._exit(code)  # Abort does not return; this is for an MPI that lets it

    def abort_on(self, exc: BaseException) -> None:
        """End the job after an exception in this rank, printing its traceback once.

        Args:
            exc (BaseException): The exception, with its traceback.
        """
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.abort(f"this rank raised; ending the job so that no rank waits forever\n{text}")

    def install_excepthook(self) -> None:
        """An uncaught exception in this rank aborts the job (otherwise the others hang)."""
        previous = sys.excepthook

        def hook(kind, value, tb):
            if self.size == 1:
                previous(kind, value, tb)
                return
            self.abort_on(value.with_traceback(tb))

        sys.excepthook = hook

    # -- collectives -----------------------------------------------------------------------
    def _announce(self, label: str) -> int:
        self.seq += 1
        note = (self.seq, label, time.time())
        for peer in self._peers():
            self._pending.append(self.notes.isend(note, dest=peer, tag=NOTE_TAG))
        return self.seq

    def _drain_notes(self) -> None:
        status = self.MPI.Status()
        while self.notes.iprobe(source=self.MPI.ANY_SOURCE, tag=NOTE_TAG, status=status):
            source = status.Get_source()
            self.last_seen[source] = self.notes.recv(source=source, tag=NOTE_TAG)
        while self._pending and self._pending[0].Test():
            self._pending.popleft()

    def wait(self, request, label: str) -> None:
        """Wait for a non-blocking collective; past the watchdog limit, end the job.

        Args:
            request (mpi4py.MPI.Request): The collective's request, as every rank posted it.
            label (str): Where the program is, for the watchdog's message ("epoch 2, ...").
        """
        seq = self._announce(label)
        start = time.perf_counter()
        polls = 0
        while not request.Test():
            polls += 1
            waited = time.perf_counter() - start
            if waited < SPIN_SECONDS:
                os.sched_yield()  # a rank that shares this core runs; else back at once
            else:
                time.sleep(0.0002 if waited < 1.0 else 0.002)
            if polls % 50 == 0:
                self._drain_notes()
                if waited > self.watchdog:
                    self._stalled(seq, label, waited)
        self.comm_seconds += time.perf_counter() - start
        if polls > 50 or len(self._pending) > 64:
            self._drain_notes()

    def _stalled(self, seq: int, label: str, waited: float) -> None:
        now = time.time()
        missing = [p for p, note in sorted(self.last_seen.items()) if note[0] < seq]
        lines = [
            f"the watchdog ended the job: this rank waited {waited:.1f} s (limit "
            f"{self.watchdog:g} s, hat.distributed.init(watchdog=...)) at {label} "
            f"(collective #{seq})"
        ]
        for peer in missing:
            peer_seq, peer_label, when = self.last_seen[peer]
            lines.append(
                f"rank {peer} stalled: it never reached collective #{seq}; its last was "
                f"#{peer_seq}, at {peer_label}, {now - when:.1f} s ago"
            )
        if not missing:
            lines.append("every rank reached this collective; MPI itself did not complete it")
        self.abort("\n".join(lines))

    def allgather_bytes(self, send: np.ndarray, recv: np.ndarray, label: str) -> None:
        """recv = every rank's send, in rank order.

        Args:
            send (numpy.ndarray): This rank's contiguous bytes, the same size on every rank.
            recv (numpy.ndarray): Size times as many bytes, filled in rank order.
            label (str): Where the program is, for the watchdog.
        """
        MPI = self.MPI
        self.wait(self.comm.Iallgather([send, MPI.BYTE], [recv, MPI.BYTE]), label)

    def allgatherv_bytes(self, send: np.ndarray, recv: np.ndarray, counts, label: str) -> None:
        """recv = every rank's send (counts[r] bytes from rank r), in rank order.

        Args:
            send (numpy.ndarray): This rank's contiguous bytes (counts[rank] of them).
            recv (numpy.ndarray): sum(counts) bytes, filled in rank order.
            counts (list[int]): How many bytes each rank sends.
            label (str): Where the program is, for the watchdog.
        """
        MPI = self.MPI
        displs = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        counts = np.asarray(counts, np.int64)
        request = self.comm.Iallgatherv([send, MPI.BYTE], [recv, (counts, displs), MPI.BYTE])
        self.wait(request, label)

    def allgather(self, obj, label: str) -> list:
        """Every rank's obj, in rank order.

        Args:
            obj (object): Any picklable value.
            label (str): Where the program is, for the watchdog.

        Returns:
            list: One value per rank, rank 0's first.
        """
        data = np.frombuffer(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL), np.uint8)
        lengths = np.empty(self.size, np.int64)
        self.allgather_bytes(np.array([data.size], np.int64), lengths, label)
        recv = np.empty(int(lengths.sum()), np.uint8)
        self.allgatherv_bytes(data, recv, lengths, label)
        cuts = np.concatenate([[0], np.cumsum(lengths)])
        return [pickle.loads(recv[a:b].tobytes()) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]

    def broadcast(self, obj, label: str, root: int = 0):
        """root's obj on every rank.

        Args:
            obj (object): Any picklable value; only root's is read.
            label (str): Where the program is, for the watchdog.
            root (int): Default 0. The rank whose value every rank receives.

        Returns:
            object: root's obj.
        """
        MPI = self.MPI
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL) if self.rank == root else b""
        length = np.array([len(data)], np.int64)
        self.wait(self.comm.Ibcast([length, MPI.INT64_T], root=root), label)
        buffer = np.frombuffer(data, np.uint8).copy() if self.rank == root else None
        if buffer is None:
            buffer = np.empty(int(length[0]), np.uint8)
        self.wait(self.comm.Ibcast([buffer, MPI.BYTE], root=root), label)
        return obj if self.rank == root else pickle.loads(buffer.tobytes())

    def any(self, flag: bool, label: str) -> bool:
        """True on every rank when flag is True on at least one.

        Args:
            flag (bool): This rank's vote.
            label (str): Where the program is, for the watchdog.

        Returns:
            bool: Whether any rank voted True.
        """
        MPI = self.MPI
        send, recv = np.array([int(bool(flag))], np.int32), np.zeros(1, np.int32)
        self.wait(self.comm.Iallreduce([send, MPI.INT32_T], [recv, MPI.INT32_T], MPI.MAX), label)
        return bool(recv[0])

    def barrier(self, label: str) -> None:
        """Return once every rank has reached this point.

        Args:
            label (str): Where the program is, for the watchdog.
        """
        self.wait(self.comm.Ibarrier(), label)
