"""A fake SLURM for tests: sbatch, squeue, sacct and scancel over a state directory.

The commands behave like the real ones as far as loop uses them:
`sbatch --parsable` prints the job id; `squeue -h -o FORMAT` lists pending and
running jobs (`%i` id, `%j` name, `%T` state, `%r` reason) and exits 1 with
"Invalid job id specified" for an id it never knew; `sacct -n -X -P -o FIELDS`
lists every job it remembers (JobID, JobName, State, ExitCode, ElapsedRaw,
NNodes, TotalCPU), with `CANCELLED by UID`; `scancel ID` cancels.

State lives in `$FAKESLURM_DIR`: `jobs/ID.json` per job, `sbatch.log` (one line
per submission, to count them). Each job is run by a detached supervisor
process: it stays PENDING for a while, then RUNNING runs `bash SCRIPT` in the
job's directory (killed at its --time limit: TIMEOUT), and ends COMPLETED or
FAILED by the script's exit code. `$FAKESLURM_DIR/behaviour.json`, a list of
[name substring, options] pairs, changes what happens to matching jobs:
`pending_seconds` (default 0.2), `state`: `FAILED`, `TIMEOUT` (without
running the script) or `VANISH` (the job disappears from squeue and sacct once
running), and `time_limit_seconds` (instead of --time).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ACTIVE = ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING")


def state_dir() -> Path:
    root = os.environ.get("FAKESLURM_DIR")
    if not root:
        sys.exit("fake slurm: set FAKESLURM_DIR")
    path = Path(root)
    (path / "jobs").mkdir(parents=True, exist_ok=True)
    return path


class Locked:
    def __init__(self, root: Path) -> None:
        self.handle = (root / "lock").open("a")

    def __enter__(self) -> None:
        fcntl.flock(self.handle, fcntl.LOCK_EX)

    def __exit__(self, *_: Any) -> None:
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def load(root: Path, job_id: str) -> dict[str, Any] | None:
    try:
        return json.loads((root / "jobs" / f"{job_id}.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def save(root: Path, job: dict[str, Any]) -> None:
    path = root / "jobs" / f"{job['id']}.json"
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(job))
    os.replace(tmp, path)


def all_jobs(root: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted((root / "jobs").glob("*.json"), key=lambda p: int(p.stem)):
        try:
            out.append(json.loads(path.read_text()))
        except json.JSONDecodeError:
            continue
    return out


def option(args: list[str], long: str, short: str | None = None) -> str | None:
    """The value of --long=V, --long V or -s V in *args*."""
    for i, arg in enumerate(args):
        if arg.startswith(f"--{long}="):
            return arg.split("=", 1)[1]
        if arg == f"--{long}" or (short and arg == f"-{short}"):
            return args[i + 1] if i + 1 < len(args) else None
        if (
            short
            and arg.startswith(f"-{short}")
            and len(arg) > 2
            and not arg.startswith("--")
        ):
            return arg[2:]
    return None


def seconds(limit: str) -> float:
    """SLURM's [D-]HH:MM:SS, MM:SS or minutes, in seconds."""
    days = 0
    if "-" in limit:
        head, limit = limit.split("-", 1)
        days = int(head)
    parts = [int(p) for p in limit.split(":")]
    if len(parts) == 1:
        return days * 86400 + parts[0] * 60.0
    while len(parts) < 3:
        parts.insert(0, 0)
    return days * 86400 + parts[0] * 3600 + parts[1] * 60 + parts[2]


def behaviour(root: Path, name: str) -> dict[str, Any]:
    path = root / "behaviour.json"
    if not path.exists():
        return {}
    for pattern, options in json.loads(path.read_text()):
        if pattern in name:
            return dict(options)
    return {}


# ------------------------------------------------------------------ commands
def sbatch(args: list[str]) -> int:
    root = state_dir()
    script = Path(args[-1]).resolve()
    directives = re.findall(r"^#SBATCH\s+(\S+)", script.read_text(), re.M)
    name = (
        option(args, "job-name", "J")
        or option(directives, "job-name", "J")
        or script.name
    )
    workdir = option(args, "chdir", "D") or os.getcwd()
    limit = option(args, "time", "t") or option(directives, "time", "t") or "60"
    with Locked(root):
        counter = root / "next_id"
        job_id = int(counter.read_text()) if counter.exists() else 1000
        counter.write_text(str(job_id + 1))
        job = {
            "id": str(job_id),
            "name": name,
            "script": str(script),
            "workdir": workdir,
            "state": "PENDING",
            "reason": "Priority",
            "submit": time.time(),
            "time_limit": seconds(limit),
            "behaviour": behaviour(root, name),
            "exit_code": "0:0",
        }
        save(root, job)
        with (root / "sbatch.log").open("a") as log:
            log.write(f"{job_id} {name}\n")
    subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "supervise", str(job_id)],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    print(job_id if "--parsable" in args else f"Submitted batch job {job_id}")
    return 0


def supervise(job_id: str) -> int:
    root = state_dir()
    job = load(root, job_id)
    assert job is not None
    rule = job["behaviour"]
    time.sleep(float(rule.get("pending_seconds", 0.2)))
    with Locked(root):
        job = load(root, job_id)
        if job is None or job["state"] != "PENDING":
            return 0  # cancelled while pending
        job.update(state="RUNNING", reason="None", start=time.time())
        save(root, job)
    wanted = rule.get("state")
    if wanted == "VANISH":
        time.sleep(0.3)
        (root / "jobs" / f"{job_id}.json").unlink()
        return 0
    if wanted in ("FAILED", "TIMEOUT"):
        time.sleep(0.3)
        return finish(root, job_id, wanted, "1:0" if wanted == "FAILED" else "0:15")
    out = Path(job["workdir"]) / f"slurm-{job_id}.out"
    with out.open("ab") as sink:
        proc = subprocess.Popen(
            ["bash", job["script"]],
            cwd=job["workdir"],
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    with Locked(root):
        job = load(root, job_id)
        if job is not None:
            job["pgid"] = proc.pid
            save(root, job)
    limit = float(rule.get("time_limit_seconds", job["time_limit"] if job else 60))
    try:
        code = proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return finish(root, job_id, "TIMEOUT", "0:15")
    return finish(root, job_id, "COMPLETED" if code == 0 else "FAILED", f"{code}:0")


def finish(root: Path, job_id: str, state: str, exit_code: str) -> int:
    with Locked(root):
        job = load(root, job_id)
        if job is None or job["state"] not in ACTIVE:
            return 0  # vanished or cancelled meanwhile
        job.update(state=state, exit_code=exit_code, end=time.time())
        save(root, job)
    return 0


def field(job: dict[str, Any], name: str) -> str:
    start, end = job.get("start"), job.get("end")
    elapsed = (end or time.time()) - start if start else 0
    return {
        "JobID": job["id"],
        "JobName": job["name"],
        "State": job["state"] + (" by 0" if job["state"] == "CANCELLED" else ""),
        "ExitCode": job["exit_code"],
        "ElapsedRaw": str(int(round(elapsed))),
        "NNodes": "1",
        "TotalCPU": f"{int(elapsed // 60):02d}:{elapsed % 60:06.3f}",
    }[name]


def squeue(args: list[str]) -> int:
    root = state_dir()
    name, ids = option(args, "name", "n"), option(args, "jobs", "j")
    fmt = option(args, "format", "o") or "%.18i %.9P %.8j %.8u %.2t %.10M %.6D %R"
    jobs = all_jobs(root)
    if ids:
        wanted = ids.split(",")
        known = {j["id"] for j in jobs}
        if not any(i in known for i in wanted):
            print("slurm_load_jobs error: Invalid job id specified", file=sys.stderr)
            return 1
        jobs = [j for j in jobs if j["id"] in wanted]
    if name:
        jobs = [j for j in jobs if j["name"] in name.split(",")]
    if "-h" not in args and "--noheader" not in args:
        print(render(fmt, HEADER))
    for job in jobs:
        if job["state"] in ACTIVE:
            print(render(fmt, {code: str(job[key]) for code, key in CODES.items()}))
    return 0


#: squeue format codes loop uses -> job record keys, and their header words.
CODES = {"i": "id", "j": "name", "T": "state", "r": "reason"}
HEADER = {"i": "JOBID", "j": "NAME", "T": "STATE", "r": "REASON"}


def render(fmt: str, values: dict[str, str]) -> str:
    return re.sub(r"%\.?\d*(\w)", lambda m: values.get(m.group(1), ""), fmt)


def sacct(args: list[str]) -> int:
    root = state_dir()
    name, ids = option(args, "name", None), option(args, "jobs", "j")
    fields = (option(args, "format", "o") or "JobID,JobName,State,ExitCode").split(",")
    start = option(args, "starttime", "S")
    jobs = all_jobs(root)
    if ids:
        jobs = [j for j in jobs if j["id"] in ids.split(",")]
    if name:
        jobs = [j for j in jobs if j["name"] in name.split(",")]
    if start:
        since = time.mktime(time.strptime(start, "%Y-%m-%dT%H:%M:%S"))
        jobs = [j for j in jobs if j["submit"] >= since]
    if "-P" not in args and "--parsable2" not in args:
        print("fake sacct: only -P output is supported", file=sys.stderr)
        return 1
    if "-n" not in args and "--noheader" not in args:
        print("|".join(fields))
    for job in jobs:
        print("|".join(field(job, f) for f in fields))
    return 0


def scancel(args: list[str]) -> int:
    root = state_dir()
    for job_id in [a for a in args if not a.startswith("-")]:
        with Locked(root):
            job = load(root, job_id)
            if job is None:
                print(f"scancel: error: Invalid job id {job_id}", file=sys.stderr)
                return 1
            if job["state"] in ACTIVE:
                job.update(state="CANCELLED", end=time.time(), exit_code="0:15")
                save(root, job)
                if job.get("pgid"):
                    try:
                        os.killpg(job["pgid"], signal.SIGTERM)
                    except ProcessLookupError:
                        pass
    return 0


COMMANDS = {"sbatch": sbatch, "squeue": squeue, "sacct": sacct, "scancel": scancel}


def main(command: str, args: list[str]) -> int:
    if command == "supervise":
        return supervise(args[0])
    return COMMANDS[command](args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
