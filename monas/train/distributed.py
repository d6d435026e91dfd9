"""Where this process sits in a distributed training job, the process group, and the
few collectives the training loop needs to keep its processes in step.

Three launchers are recognised: ``torchrun`` (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``, ``MASTER_PORT``; also what ``srun torchrun`` in an sbatch script
gives), a submitit job (local or SLURM; one task per GPU, the first task's host is the
rendezvous), or none (a single process). The backend is NCCL on CUDA, gloo on CPU.
"""
from __future__ import annotations

import os
import signal
import math
from dataclasses import dataclass

import torch
import torch.distributed as dist

_SUBMITIT_PORT_BASE = 20000  # submitit jobs derive a port from the job id, so two jobs on a node do not collide


@dataclass(frozen=True)
class DistEnv:
    """This process's place in the job (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int = 29500

    @property
    def is_main(self) -> bool:
        """Whether this process writes files and prints progress."""
        return self.rank == 0


def detect() -> DistEnv:
    """The environment set by torchrun or submitit; a single process otherwise."""
    env = os.environ
    if "RANK" in env and "WORLD_SIZE" in env:
        return DistEnv(
            int(env["RANK"]),
            int(env["WORLD_SIZE"]),
            int(env.get("LOCAL_RANK", 0)),
            env.get("MASTER_ADDR", "127.0.0.1"),
            int(env.get("MASTER_PORT", 29500)),
        )
    if env.get("SUBMITIT_EXECUTOR"):
        import submitit

        job = submitit.JobEnvironment()
        digits = "".join(c for c in str(job.job_id) if c.isdigit()) or "0"
        addr = "127.0.0.1" if job.num_nodes == 1 else job.hostnames[0]
        return DistEnv(job.global_rank, job.num_tasks, job.local_rank, addr, _SUBMITIT_PORT_BASE + int(digits) % 20000)
    return DistEnv()


def init(env: DistEnv, device: torch.device | str) -> torch.device:
    """Join the process group when ``env`` has several processes (NCCL on a CUDA
    ``device``, gloo otherwise) and return this process's device (``cuda:<local_rank>``
    for plain "cuda")."""
    torch_device = torch.device(device)
    if torch_device.type == "cuda" and torch_device.index is None:
        torch_device = torch.device("cuda", env.local_rank)
    if torch_device.type == "cuda":
        torch.cuda.set_device(torch_device)
    if env.world_size > 1 and not dist.is_initialized():
        os.environ.setdefault("MASTER_ADDR", env.master_addr)
        os.environ.setdefault("MASTER_PORT", str(env.master_port))
        dist.init_process_group(
            "nccl" if torch_device.type == "cuda" else "gloo",
            rank=env.rank,
            world_size=env.world_size,
            device_id=torch_device if torch_device.type == "cuda" else None,
        )
    return torch_device


def cleanup() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_initialized():
        dist.destroy_process_group()


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of the current process group, (0, 1) without one."""
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather(obj: dict, world: int) -> list:
    """``obj`` of every process of the group, in rank order (``[obj]`` alone)."""
    if world == 1:
        return [obj]
    gathered = [None] * world
    dist.all_gather_object(gathered, obj)
    return gathered


def mean_over_processes(total: float | torch.Tensor, count: int, device: torch.device) -> float:
    """The sum of ``total`` over the group divided by the sum of ``count`` (NaN for 0)."""
    values = torch.tensor([float(total), float(count)], dtype=torch.float64, device=device)
    if dist.is_initialized():
        dist.all_reduce(values)
    return float(values[0] / values[1]) if values[1] else math.nan


def agree(signalled: bool, seconds: float, device: torch.device) -> tuple[bool, float]:
    """Whether any process of the group was signalled, and the longest training time
    of any, so that all processes follow the same schedule and stop at the same step."""
    if not dist.is_initialized():
        return signalled, seconds
    values = torch.tensor([float(signalled), seconds], dtype=torch.float64, device=device)
    dist.all_reduce(values, op=dist.ReduceOp.MAX)
    return bool(values[0]), float(values[1])


class PreemptionFlag:
    """Set by SIGTERM or SIGUSR1 (what SLURM and torchrun send before they kill a job),
    so the training loop can checkpoint at a step boundary and exit. A context manager:
    the handlers are installed on entry and the previous ones restored on exit. Not
    installed inside submitit jobs, whose own handlers requeue them."""

    SIGNALS = (signal.SIGTERM, signal.SIGUSR1)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict = {}

    def __enter__(self) -> PreemptionFlag:  # noqa: PYI034
        if not os.environ.get("SUBMITIT_EXECUTOR"):
            self._previous = {signum: signal.signal(signum, self._handle) for signum in self.SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def _handle(self, signum: int, frame) -> None:
        self.signum = signum

    def __call__(self) -> bool:
        """Whether a preemption signal has arrived."""
        return self.signum is not None
