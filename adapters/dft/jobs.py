"""Where jobs run: `local` (a detached process on this machine) or `slurm`.

Both backends answer the same four questions, so the lifecycle above them
(`lifecycle.py`) is one piece of code:

* `submit(directory, name)` starts the job script and returns the job id;
* `find(directory, name, since)` asks the scheduler whether a job of that name
  exists already (any state), which is what makes a crash right after a
  submission safe: the job is found again instead of submitted twice;
* `status(directory, job_id)` gives a `JobStatus` (SLURM: squeue while queued,
  then sacct; on a cluster without accounting, the files the job left);
* `cancel(directory, job_id)`.

The local backend runs `bash job.sh` detached, in a session of its own, so a
job outlives the engine as a cluster job would; its state comes from the
`status.json` the runner writes, and "which jobs exist" from that file or, in
the instant between the start of the process and its first write, from /proc.
A job script that ends before its runner writes anything has failed if it said
why in `job.out`; otherwise it is `unknown`, and the lifecycle calls it vanished
after `vanish_after`.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

#: Job states the lifecycle knows. `unknown`: the scheduler does not know the
#: job (yet, or any more); the lifecycle decides when that means `vanished`.
ACTIVE = ("pending", "running")
TERMINAL = ("completed", "failed", "timeout", "cancelled", "vanished")


class BackendError(Exception):
    """A scheduler command failed (not the job: the command itself)."""


@dataclass(frozen=True)
class JobStatus:
    state: str
    reason: str = ""
    #: Seconds the job ran, nodes it had and CPU seconds, when the scheduler says.
    elapsed: float | None = None
    nodes: int | None = None
    cpu_seconds: float | None = None


class Backend(Protocol):
    name: str

    def submit(self, directory: Path, name: str) -> str: ...

    def find(self, directory: Path, name: str, since: float) -> str | None: ...

    def status(self, directory: Path, job_id: str) -> JobStatus: ...

    def cancel(self, directory: Path, job_id: str) -> None: ...


def backend(kind: str) -> Backend:
    return LocalBackend() if kind == "local" else SlurmBackend()


# ------------------------------------------------------------------- local
class LocalBackend:
    """Jobs as detached `bash job.sh` processes on this machine."""

    name = "local"

    def submit(self, directory: Path, name: str) -> str:
        env = {k: v for k, v in os.environ.items() if k != "LOOP_FAULT"}
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (root, env.get("PYTHONPATH", "")) if p
        )
        script = shlex.quote(str(directory / "job.sh"))  # absolute: /proc finds it
        # a short-lived shell starts the job in the background and prints its
        # pid: the job belongs to init from then on, in a session of its own, so
        # it outlives this process and is never left a zombie of it
        launched = subprocess.run(
            ["bash", "-c", f"bash {script} >> job.out 2>&1 < /dev/null & echo $!"],
            cwd=directory,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            start_new_session=True,
            check=False,
        )
        pid = launched.stdout.strip()
        if launched.returncode != 0 or not pid.isdigit():
            raise BackendError(
                f"could not start {directory / 'job.sh'}: {launched.stderr.strip()}"
            )
        return pid

    def find(self, directory: Path, name: str, since: float) -> str | None:
        status = _read(directory / "status.json")
        if status.get("pid"):
            return str(status["pid"])
        pid = _process_of(directory)
        return str(pid) if pid else None

    def status(self, directory: Path, job_id: str) -> JobStatus:
        status = _read(directory / "status.json")
        if (directory / "cancelled").exists():
            return JobStatus("cancelled", "cancelled by loop")
        state = status.get("state")
        if state in ("completed", "failed", "timeout"):
            elapsed = (status.get("finished_at") or 0) - (status.get("started_at") or 0)
            return JobStatus(state, status.get("error", ""), elapsed=elapsed, nodes=1)
        alive = _alive(int(job_id), directory)
        if state == "running":
            if alive:
                return JobStatus("running")
            return JobStatus(
                "failed", "the job's process ended without writing its result"
            )
        if alive:
            return JobStatus("pending")  # started, runner not up yet
        said = _last_line(directory / "job.out")
        if said:  # the script ended before the runner started, and said why
            return JobStatus("failed", f"the job script ended: {said}")
        return JobStatus("unknown")

    def cancel(self, directory: Path, job_id: str) -> None:
        (directory / "cancelled").touch()
        if _alive(int(job_id), directory):
            try:
                os.killpg(os.getpgid(int(job_id)), signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except FileNotFoundError:
        return ""
    return lines[-1][:300] if lines else ""


def _read(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _alive(pid: int, directory: Path) -> bool:
    """Is *pid* a live process of this job (not a zombie, not a reused pid)?"""
    proc = Path(f"/proc/{pid}")
    if proc.exists():
        try:
            if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return False
            return str(directory) in (proc / "cmdline").read_bytes().decode(
                errors="replace"
            ).replace("\0", " ") or _cwd_is(proc, directory)
        except OSError:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cwd_is(proc: Path, directory: Path) -> bool:
    try:
        return Path(os.readlink(proc / "cwd")) == directory
    except OSError:
        return False


def _process_of(directory: Path) -> int | None:
    """A live process running this job directory's script, found through /proc."""
    script = str(directory / "job.sh")
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if script in cmdline.split("\0") and _alive(int(proc.name), directory):
            return int(proc.name)
    return None


# ------------------------------------------------------------------- slurm
#: sacct/squeue state -> lifecycle state.
SLURM_STATES = {
    "PENDING": "pending",
    "CONFIGURING": "pending",
    "REQUEUED": "pending",
    "REQUEUE_HOLD": "pending",
    "RESV_DEL_HOLD": "pending",
    "PREEMPTED": "pending",
    "SUSPENDED": "running",
    "RUNNING": "running",
    "COMPLETING": "running",
    "STAGE_OUT": "running",
    "COMPLETED": "completed",
    "FAILED": "failed",
    "OUT_OF_MEMORY": "failed",
    "NODE_FAIL": "failed",
    "BOOT_FAIL": "failed",
    "DEADLINE": "timeout",
    "TIMEOUT": "timeout",
    "CANCELLED": "cancelled",
    "REVOKED": "cancelled",
}


class SlurmBackend:
    """Jobs submitted with sbatch, followed with squeue and sacct."""

    name = "slurm"

    def submit(self, directory: Path, name: str) -> str:
        out = _run(
            [
                "sbatch",
                "--parsable",
                f"--job-name={name}",
                f"--chdir={directory}",
                str(directory / "job.sh"),
            ]
        )
        job_id = out.strip().splitlines()[-1].split(";")[0].strip() if out else ""
        if not job_id:
            raise BackendError(f"sbatch printed no job id: {out!r}")
        return job_id

    def find(self, directory: Path, name: str, since: float) -> str | None:
        queued = _run(["squeue", "-h", f"--name={name}", "-o", "%i|%T"])
        ids = [line.split("|")[0] for line in queued.splitlines() if line.strip()]
        start = datetime.fromtimestamp(since - 86400).strftime("%Y-%m-%dT%H:%M:%S")
        known = _run(
            [
                "sacct",
                "-n",
                "-X",
                "-P",
                f"--name={name}",
                "-S",
                start,
                "-o",
                "JobID,State",
            ]
        )
        ids += [line.split("|")[0] for line in known.splitlines() if line.strip()]
        return max(ids, key=_job_number) if ids else None

    def status(self, directory: Path, job_id: str) -> JobStatus:
        queued = _run(["squeue", "-h", f"--jobs={job_id}", "-o", "%i|%T|%r"], ok=(1,))
        for line in queued.splitlines():
            fields = line.strip().split("|")
            if fields[0] == job_id and len(fields) >= 2:
                state = SLURM_STATES.get(fields[1].split()[0], "running")
                reason = fields[2] if len(fields) > 2 else ""
                return JobStatus(state, reason if state == "pending" else "")
        if shutil.which("sacct") is None:
            return _from_files(directory)
        known = _run(
            [
                "sacct",
                "-n",
                "-X",
                "-P",
                f"--jobs={job_id}",
                "-o",
                "JobID,State,ExitCode,ElapsedRaw,NNodes,TotalCPU",
            ]
        )
        for line in known.splitlines():
            fields = line.strip().split("|")
            if fields[0] != job_id or len(fields) < 2:
                continue
            raw = fields[1].split()[0] if fields[1].strip() else "PENDING"
            state = SLURM_STATES.get(raw, "failed")
            reason = "" if state == "completed" else f"SLURM {fields[1].strip()}"
            if len(fields) > 2 and state == "failed":
                reason += f", exit code {fields[2]}"
            return JobStatus(
                state,
                reason,
                elapsed=_float(fields, 3),
                nodes=int(_float(fields, 4) or 1),
                cpu_seconds=_cpu(fields[5]) if len(fields) > 5 else None,
            )
        return JobStatus("unknown")

    def cancel(self, directory: Path, job_id: str) -> None:
        _run(["scancel", job_id])


def _from_files(directory: Path) -> JobStatus:
    """A job squeue no longer lists, on a cluster without sacct: what it left.

    The local runner's `status.json` says how it ended; a `vasprun.xml` means
    VASP ran (the parser decides whether it converged). Anything else is
    unknown, and vanishes after `vanish_after`.
    """
    status = _read(directory / "status.json")
    if status.get("state") in ("completed", "failed", "timeout"):
        elapsed = (status.get("finished_at") or 0) - (status.get("started_at") or 0)
        return JobStatus(status["state"], status.get("error", ""), elapsed=elapsed)
    if (directory / "vasprun.xml").exists():
        return JobStatus("completed", "no sacct: judged by its vasprun.xml")
    return JobStatus("unknown")


def _run(command: list[str], ok: tuple[int, ...] = ()) -> str:
    if shutil.which(command[0]) is None:
        raise BackendError(
            f"{command[0]} not found on PATH: the slurm backend runs on a machine "
            "with SLURM's commands (a login node)"
        )
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=120, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BackendError(f"{' '.join(command)} did not answer in 120 s") from exc
    if done.returncode != 0 and done.returncode not in ok:
        raise BackendError(
            f"{' '.join(command)} exited with {done.returncode}: "
            f"{done.stderr.strip()[:500]}"
        )
    return done.stdout if done.returncode == 0 else ""


def _job_number(job_id: str) -> tuple[int, str]:
    head = job_id.split("_")[0].split(".")[0]
    return (int(head) if head.isdigit() else -1, job_id)


def _float(fields: list[str], index: int) -> float | None:
    try:
        return float(fields[index])
    except (IndexError, ValueError):
        return None


def _cpu(text: str) -> float | None:
    """sacct's TotalCPU ([D-][HH:]MM:SS[.mmm]) in seconds."""
    text = text.strip()
    if not text:
        return None
    days = 0
    if "-" in text:
        head, text = text.split("-", 1)
        days = int(head)
    parts = [float(p) for p in text.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0.0)
    return days * 86400 + parts[0] * 3600 + parts[1] * 60 + parts[2]
