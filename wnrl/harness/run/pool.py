"""The one executor of runs: a pool with a local (process pool) and a Ray backend, used by
``compare`` (:func:`wnrl.harness.run.execute.execute`: a fixed list of runs) and ``tune`` (a
long-lived pool: a study adds runs as trials are asked).

Both backends run ``fn(task)`` (:func:`wnrl.harness.run.task.run_task`: it writes the run's
``result.json``) and give back each task with its record as it ends. A task that raises, or
whose process dies, becomes a failed record the same way on both
(:func:`wnrl.harness.run.task.record_failure`: ``one_line`` of the exception, or
:data:`~wnrl.harness.run.task.WORKER_DIED`). Stopping (Ctrl-C, SIGTERM) is :func:`running`,
for both: :meth:`LocalPool.close` / :meth:`RayPool.close` with ``kill``: the workers are
terminated (each records its run's part) or the Ray tasks cancelled.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any

from wnrl.harness.run.backends import connect_ray, init_worker, terminate_pool, worker_args, worker_context
from wnrl.harness.run.options import ExecOptions
from wnrl.harness.run.task import WORKER_DIED, OnDone, Task, one_line, record_failure, run_task
from wnrl.train.record import RunRecord
from wnrl.train.stop import check_stop

__all__ = ["Done", "LocalPool", "Pool", "RayPool", "make_pool", "run_all", "running"]

#: A task that ended, with its record.
Done = list[tuple[Task, RunRecord]]
TaskFn = Callable[[Task], RunRecord]


class LocalPool:
    """A process pool (see :func:`wnrl.harness.run.backends.worker_context`); at most its size of
    runs in flight, the rest queued here. A worker that dies breaks the pool: the runs in flight
    then are recorded as failed (:data:`WORKER_DIED`) and a new pool runs the queued ones.

    :param options: ``workers`` is the pool size (capped by ``gpus * runs_per_gpu`` with GPUs)
    :param fn: the task function (top-level, picklable); it writes ``result.json`` itself
    :param gpus: GPUs to spread the workers over (0: CPU only): each worker is pinned to one
        through ``CUDA_VISIBLE_DEVICES``, at most ``runs_per_gpu`` per GPU
    """

    def __init__(self, options: ExecOptions, fn: TaskFn = run_task, gpus: int = 0) -> None:
        self.fn, self.gpus = fn, gpus
        workers = options.n_workers
        self.size = max(1, min(workers, gpus * options.runs_per_gpu if gpus else workers))
        self.ctx = worker_context(cuda=gpus > 0)
        self.queue: deque[Task] = deque()
        self.inflight: dict[Future[RunRecord], Task] = {}
        self.broken = False
        self.pool = self._make()

    def _make(self) -> ProcessPoolExecutor:
        slots = None
        if self.gpus:
            slots = self.ctx.Queue()
            for i in range(self.size):
                slots.put(i % self.gpus)
        return ProcessPoolExecutor(self.size, mp_context=self.ctx, initializer=init_worker, initargs=worker_args(slots))

    def submit(self, task: Task) -> None:
        """Queue a run (it starts when a worker is free).

        :param task: the run's task
        """
        self.queue.append(task)
        self._feed()

    def _feed(self) -> None:
        while self.queue and len(self.inflight) < self.size and not self.broken:
            task = self.queue.popleft()
            try:
                self.inflight[self.pool.submit(self.fn, task)] = task
            except BrokenProcessPool:
                self.queue.appendleft(task)
                if self.inflight:  # collected (failed) by the next poll, which makes a new pool
                    self.broken = True
                else:
                    self._renew()

    def _renew(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.pool = self._make()
        self.broken = False

    @property
    def pending(self) -> int:
        """Runs queued or running."""
        return len(self.queue) + len(self.inflight)

    def poll(self, timeout: float | None) -> Done:
        """The runs that ended within ``timeout`` seconds (``None``: wait for one at least).

        :param timeout: seconds to wait at most
        """
        self._feed()
        if not self.inflight:
            time.sleep(timeout or 0)
            return []
        done, _ = wait(list(self.inflight), timeout=timeout, return_when=FIRST_COMPLETED)
        broken = self.broken or any(isinstance(f.exception(), BrokenProcessPool) for f in done)
        if broken:  # every run in flight fails with the pool: collect them all
            wait(list(self.inflight))
            done = set(self.inflight)
        out = []
        for f in done:
            task = self.inflight.pop(f)
            out.append((task, self._record(f, task)))
        if broken:
            self._renew()
        self._feed()
        return out

    @staticmethod
    def _record(future: Future[RunRecord], task: Task) -> RunRecord:
        exc = future.exception()
        if exc is None:
            return future.result()
        return record_failure(task, WORKER_DIED if isinstance(exc, BrokenProcessPool) else one_line(exc))

    def close(self, kill: bool = False) -> None:
        """Stop the pool.

        :param kill: terminate the runs in flight (Ctrl-C, SIGTERM): each worker records its
            run's part and exits
        """
        if kill:
            terminate_pool(self.pool)
        else:
            self.pool.shutdown(wait=True, cancel_futures=True)


class RayPool:
    """Runs as Ray tasks (``num_cpus=1``, ``num_gpus=1/runs_per_gpu`` when the cluster has GPUs
    and the runs may use them); the run directories must be on storage every node shares.

    :param options: ``workers`` (CPUs of the local Ray instance started when there is no
        ``address``, shut down by :meth:`close`), ``address``, ``runs_per_gpu``
    :param fn: the task function; it writes ``result.json`` itself
    :param use_gpu: the runs may use CUDA
    :raises ConfigError: when ray is not installed or the cluster cannot be reached
    """

    def __init__(self, options: ExecOptions, fn: TaskFn = run_task, use_gpu: bool = False) -> None:
        self.ray, self.own = connect_ray(options.n_workers, options.address)
        self.refs: dict[Any, Task] = {}
        try:
            gpus = self.ray.cluster_resources().get("GPU", 0) if use_gpu else 0
            share = 1.0 / options.runs_per_gpu if gpus else 0
            self.remote = self.ray.remote(num_cpus=1, num_gpus=share, max_retries=0)(fn)
        except BaseException:
            self.close()
            raise

    def submit(self, task: Task) -> None:
        """Start a run.

        :param task: the run's task
        """
        self.refs[self.remote.remote(task)] = task

    @property
    def pending(self) -> int:
        """Runs queued or running."""
        return len(self.refs)

    def poll(self, timeout: float | None) -> Done:
        """The runs that ended within ``timeout`` seconds (``None``: wait for one at least).

        :param timeout: seconds to wait at most
        """
        if not self.refs:
            time.sleep(timeout or 0)
            return []
        n = 1 if timeout is None else len(self.refs)
        ready, _ = self.ray.wait(list(self.refs), num_returns=n, timeout=timeout)
        out = []
        for ref in ready:
            task = self.refs.pop(ref)
            out.append((task, self._record(ref, task)))
        return out

    def _record(self, ref: Any, task: Task) -> RunRecord:
        errors = self.ray.exceptions
        try:
            record: RunRecord = self.ray.get(ref)
            return record
        except errors.RayTaskError as e:
            return record_failure(task, one_line(e.cause if e.cause is not None else e))
        except errors.RayError as e:  # the worker died, the node was lost, ...
            return record_failure(task, f"{WORKER_DIED} ({one_line(e)[:200]})")

    def close(self, kill: bool = False) -> None:
        """Stop (and with ``kill`` cancel the runs in flight); a Ray instance started here is
        shut down.

        :param kill: cancel the runs in flight
        """
        if kill:
            for ref in self.refs:
                self.ray.cancel(ref, force=True)
        if self.own:
            self.ray.shutdown()


Pool = LocalPool | RayPool


def make_pool(options: ExecOptions, fn: TaskFn = run_task, gpus: int = 0, use_gpu: bool = False) -> Pool:
    """The pool of ``options.backend``.

    :param options: the execution options
    :param fn: the task function
    :param gpus: local backend: GPUs to pin the workers to (0: CPU only)
    :param use_gpu: Ray backend: the runs may use CUDA
    """
    if options.backend == "ray":
        return RayPool(options, fn, use_gpu)
    return LocalPool(options, fn, gpus)


@contextmanager
def running(pool: Pool) -> Iterator[Pool]:
    """Hold ``pool`` open for a ``with`` block, then close it: cleanly when the block ends, with
    ``close(kill=True)`` when it raises (Ctrl-C, SIGTERM as one: the runs in flight are stopped),
    the exception going on. The one place where a pool is stopped, for ``compare`` and ``tune``.

    :param pool: the pool
    """
    try:
        yield pool
    except BaseException:
        pool.close(kill=True)
        raise
    pool.close()


def run_all(pool: Pool, tasks: Iterable[Task], on_done: OnDone) -> None:
    """Run ``tasks`` on ``pool`` and close it (:func:`running`); ``on_done(record)`` is called as
    each one ends.

    :param pool: the pool
    :param tasks: the tasks
    :param on_done: callback with each record
    """
    with running(pool):
        for task in tasks:
            pool.submit(task)
        while pool.pending:
            for _task, record in pool.poll(1.0):
                on_done(record)
            check_stop()  # a SIGTERM whose interrupt was lost in a finalizer
