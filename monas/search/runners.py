"""Where evaluations run: in this process, or on a Dask cluster.

A runner is a small callable, like pymoo's parallelization runners: given evaluation
jobs (genome, generation) it yields each Evaluation as soon as it finishes, so the
caller records it at once. pymoo's own ``DaskParallelization`` maps whole problem
evaluations and returns only when all are done, which would leave finished networks
unrecorded while the slowest one runs; hence these.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from monas.errors import ClusterError
from monas.search.evaluation import Evaluation

Job = tuple[np.ndarray, int]
EvaluateFn = Callable[[np.ndarray, int], Evaluation]


class SerialRunner:
    """Evaluates jobs one after another in this process."""

    def __init__(self, evaluate: EvaluateFn) -> None:
        self.evaluate = evaluate

    def __call__(self, jobs: Sequence[Job]) -> Iterator[Evaluation]:
        for genome, generation in jobs:
            yield self.evaluate(genome, generation)

    def close(self) -> None:
        """Nothing to release."""


def _evaluate_on_worker(evaluate: EvaluateFn, genome: np.ndarray, generation: int, threads: int | None) -> Evaluation:
    if threads:
        # Set in the thread that runs the task: torch's (OpenMP's) thread count is per thread.
        import torch

        torch.set_num_threads(threads)
    return evaluate(genome, generation)


class DaskRunner:
    """Evaluates jobs on a Dask cluster, yielding Evaluations in the order they finish.

    The evaluator (space, estimator, scoring images) is sent to every worker once.
    A task whose worker dies is re-run elsewhere by Dask's scheduler. ``threads``
    caps torch's threads per task, so local workers share the cores.
    """

    def __init__(self, evaluate: EvaluateFn, client, owned: Iterable = (), threads: int | None = None) -> None:
        self.client = client
        self.threads = threads
        self._owned = list(owned)  # a cluster this runner started and must close
        self._raw = evaluate
        self._evaluate = client.scatter(evaluate, broadcast=True, hash=False)

    def _submit(self, job: Job):
        genome, generation = job
        return self.client.submit(_evaluate_on_worker, self._evaluate, genome, generation, self.threads, pure=False)

    def __call__(self, jobs: Sequence[Job]) -> Iterator[Evaluation]:
        from concurrent.futures import CancelledError

        from distributed import as_completed

        futures = {self._submit(job): (job, self._evaluate) for job in jobs}
        resubmitted = 0
        pending = as_completed(futures)
        for future in pending:
            try:
                yield future.result()
            except CancelledError:
                # Scattered data cannot be recomputed: a worker that dies while holding
                # the only replica of the evaluator takes it along, and Dask cancels the
                # tasks that need it. Scatter it again (once per loss, not per cancelled
                # task) and re-run them, a bounded number of times, so that a cluster
                # that keeps losing workers still fails.
                if resubmitted >= 2 * len(jobs):
                    raise
                resubmitted += 1
                job, scattered = futures[future]
                if scattered is self._evaluate:
                    self._evaluate = self.client.scatter(self._raw, broadcast=True, hash=False)
                retry = self._submit(job)
                futures[retry] = (job, self._evaluate)
                pending.add(retry)

    def close(self) -> None:
        """Close the client, and the cluster when this runner started it."""
        self.client.close()
        for cluster in self._owned:
            cluster.close()


# Dask's nanny starts each worker process with MALLOC_TRIM_THRESHOLD_=65536. Setting any
# malloc threshold switches off glibc's dynamic mmap threshold, so every buffer over
# 128 KiB (most activation tensors) is then mmap'ed and page-faulted afresh: measured,
# 2.2 million minor page faults per DARTS evaluation instead of 0.1 million, and 2-3x
# the time. A fixed 32 MiB mmap threshold (the ceiling glibc's dynamic rule grows to)
# restores the default behaviour and keeps Dask's trimming.
WORKER_ENVIRON = {"MALLOC_MMAP_THRESHOLD_": str(32 * 2**20)}


@contextmanager
def _worker_environ():
    """Dask config under which nannies started here give workers ``WORKER_ENVIRON``."""
    import dask

    key = "distributed.nanny.pre-spawn-environ"
    with dask.config.set({key: {**dask.config.get(key), **WORKER_ENVIRON}}):
        yield


SCHEDULER_CONNECT_S = 10  # seconds to reach an existing scheduler (the command checked it answers)


def slurm_cluster(options: dict):
    """A dask-jobqueue SLURMCluster from the settings of a cluster config file (its keys
    are SLURMCluster's: cores, memory, processes, queue, walltime, job_extra_directives,
    ...); ClusterError naming a setting SLURMCluster does not take."""
    from dask_jobqueue import SLURMCluster

    exports = [f"export {name}={value}" for name, value in WORKER_ENVIRON.items()]
    options = {**options, "job_script_prologue": exports + list(options.get("job_script_prologue") or [])}
    try:
        return SLURMCluster(**options)
    except (TypeError, ValueError) as exc:
        raise ClusterError(f"bad SLURM cluster setting in --cluster-config: {str(exc).splitlines()[0]}") from None


def make_runner(
    evaluate: EvaluateFn,
    workers: int = 1,
    scheduler: str | None = None,
    gpus: int = 0,
    slurm: dict | None = None,
):
    """A SerialRunner for one local worker; otherwise a DaskRunner on the cluster at
    ``scheduler``, on ``workers`` SLURM jobs started with the ``slurm`` settings, or
    on a local cluster of ``workers`` single-threaded processes (one GPU each through
    dask-cuda when ``gpus`` > 0; ClusterError when it is not installed)."""
    if scheduler is None and slurm is None and workers <= 1:
        return SerialRunner(evaluate)
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=SCHEDULER_CONNECT_S)
        except (OSError, TimeoutError) as exc:  # distributed reports a failed connection as OSError
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ClusterError(f"cannot connect to the Dask scheduler at {scheduler}: {reason}") from None
        return DaskRunner(evaluate, client)
    if slurm is not None:
        cluster = slurm_cluster(slurm)
        cluster.scale(jobs=workers)
        return DaskRunner(evaluate, Client(cluster), owned=[cluster])
    with _worker_environ():
        if gpus:
            try:
                from dask_cuda import LocalCUDACluster  # one worker per visible GPU
            except ImportError:
                raise ClusterError("--workers on a GPU machine needs dask-cuda: pip install 'monas[gpu]' "
                                   "(or dask-cuda), or use --workers 1") from None

            cluster = LocalCUDACluster(n_workers=min(workers, gpus), threads_per_worker=1)
            return DaskRunner(evaluate, Client(cluster), owned=[cluster])
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    return DaskRunner(evaluate, Client(cluster), owned=[cluster], threads=max(1, (os.cpu_count() or 1) // workers))
