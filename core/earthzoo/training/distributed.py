"""Launching K data-parallel processes with the frameworks' own launchers:
``torchrun --standalone`` (DDP; gloo on CPU) for torch and ``msrun`` (DATA_PARALLEL,
CPU collectives) for MindSpore. Each worker runs ``earthzoo train`` again with
the same arguments minus ``--nproc``; the launcher's environment says it is a worker."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from ..errors import EarthzooError
from ..pins import framework_pip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def strip_nproc(argv: list[str]) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == "--nproc":
            skip = True
            continue
        if a.startswith("--nproc="):
            continue
        out.append(a)
    return out


def launch_command(framework: str, nproc: int, train_args: list[str], log_dir: str | os.PathLike) -> list[str]:
    worker = str(Path(__file__).with_name("_worker.py"))
    if framework == "torch":
        exe = shutil.which("torchrun")
        head = [exe] if exe else [sys.executable, "-m", "torch.distributed.run"]
        return [*head, "--standalone", f"--nproc_per_node={nproc}", worker, *train_args]
    exe = shutil.which("msrun")
    if not exe:
        raise EarthzooError("msrun is not on PATH (it comes with MindSpore)", f"pip install {framework_pip('mindspore')}, or use --framework torch")
    return [exe, f"--worker_num={nproc}", f"--local_worker_num={nproc}", "--master_addr=127.0.0.1", f"--master_port={free_port()}", f"--log_dir={log_dir}", "--join=True", worker, *train_args]


def launch(framework: str, nproc: int, train_args: list[str], out: str | os.PathLike) -> int:
    """Run the workers and wait; returns the launcher's exit code. MindSpore
    workers' output goes to OUT/msrun_logs/worker_N.log."""
    if nproc < 2:
        raise EarthzooError(f"--nproc {nproc} launches no extra processes", "use --nproc 2 or more, or leave it out")
    Path(out).mkdir(parents=True, exist_ok=True)
    log_dir = Path(out) / "msrun_logs"
    cmd = launch_command(framework, nproc, train_args, log_dir)
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    rc = subprocess.call(cmd, env=env)
    if rc != 0 and framework == "mindspore":
        logs = sorted(log_dir.glob("worker_*.log"))
        tail = logs[0].read_text(errors="replace").strip().splitlines()[-1:] if logs else []
        raise EarthzooError(f"msrun workers failed (exit {rc}){': ' + tail[0][:200] if tail else ''}", f"see the worker logs in {log_dir}")
    if rc != 0:
        raise EarthzooError(f"torchrun workers failed (exit {rc})", "see the worker output above")
    return rc
