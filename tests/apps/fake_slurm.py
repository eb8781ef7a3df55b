"""A stand-in for SLURM's sbatch, srun, sacct and scancel on one machine (tests/test_launchers.py).

`python fake_slurm.py sbatch|srun|sacct|scancel ARGS...`; with wrappers of those names on PATH
(`install(bin_dir)`) submitit's real SLURM executor runs against it: sbatch keeps a copy of the
submission script in $FAKE_SLURM_DIR (job ids 1000, 1001, ...) and starts it at once, every task
of an array with the SLURM_* variables a job sees; srun runs its command with the --output and
--error patterns filled in; sacct reports RUNNING until a task's script exits, then COMPLETED or
FAILED. No queue, no limits: the `#SBATCH` lines are only recorded.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

STATE = Path(os.environ.get("FAKE_SLURM_DIR", "/tmp/fake_slurm"))


def sbatch(args: list[str]) -> int:
    script = Path(args[-1]).read_text()
    STATE.mkdir(parents=True, exist_ok=True)
    job_id = str(1000 + len(list(STATE.glob("*.sbatch"))))
    copy = STATE / f"{job_id}.sbatch"  # what the test inspects, and what the tasks run
    copy.write_text(script)
    array = re.search(r"^#SBATCH --array=(\d+)-(\d+)", script, re.M)
    tasks = [None] if array is None else range(int(array[1]), int(array[2]) + 1)
    for offset, task in enumerate(tasks):
        name = job_id if task is None else f"{job_id}_{task}"
        env = dict(
            os.environ,
            SLURM_JOB_ID=job_id if task is None else str(int(job_id) * 1000 + offset),
            SLURM_NTASKS="1",
            SLURM_JOB_NUM_NODES="1",
            SLURM_NODEID="0",
            SLURM_PROCID="0",
            SLURM_LOCALID="0",
            SLURM_JOB_NODELIST="localhost",
        )
        if task is not None:
            env |= {"SLURM_ARRAY_JOB_ID": job_id, "SLURM_ARRAY_TASK_ID": str(task)}
        exit_file = STATE / f"{name}.exit"
        (STATE / f"{name}.task").touch()
        subprocess.Popen(
            ["bash", "-c", 'bash "$1"; echo $? > "$2"', "job", str(copy), str(exit_file)],
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    print(f"Submitted batch job {job_id}")
    return 0


def srun(args: list[str]) -> int:
    env = os.environ
    fill = {
        "%A": env.get("SLURM_ARRAY_JOB_ID", ""),
        "%a": env.get("SLURM_ARRAY_TASK_ID", ""),
        "%j": env["SLURM_JOB_ID"],
        "%t": env["SLURM_PROCID"],
    }
    files: dict[str, str] = {}
    while args and args[0].startswith("--"):
        flag = args.pop(0)
        if flag in ("--output", "--error"):
            path = args.pop(0)
            for key, value in fill.items():
                path = path.replace(key, value)
            files[flag] = path
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    out = open(files["--output"], "a") if "--output" in files else None  # noqa: SIM115
    err = open(files["--error"], "a") if "--error" in files else subprocess.STDOUT  # noqa: SIM115
    return subprocess.call(args, stdout=out, stderr=err)


def sacct(args: list[str]) -> int:
    ids = [args[i + 1] for i, a in enumerate(args) if a == "-j"]
    print("JobID|State|NodeList")
    for job_id in ids:
        for task in sorted(STATE.glob("*.task")):
            name = task.stem
            if name != job_id and not name.startswith(f"{job_id}_"):
                continue
            exit_file = STATE / f"{name}.exit"
            if not exit_file.exists():
                state = "RUNNING"
            else:
                state = "COMPLETED" if exit_file.read_text().strip() == "0" else "FAILED"
            print(f"{name}|{state}|localhost")
    return 0


COMMANDS = {"sbatch": sbatch, "srun": srun, "sacct": sacct, "scancel": lambda args: 0}


def install(bin_dir: Path) -> None:
    """Write executable wrappers sbatch, srun, sacct, scancel into bin_dir (put it on PATH)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in COMMANDS:
        wrapper = bin_dir / name
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{__file__}" {name} "$@"\n')
        wrapper.chmod(0o755)


if __name__ == "__main__":
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
