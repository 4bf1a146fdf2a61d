"""CLI start-up: ``giaoviec status`` on the An Giang plan beside a bare ``import sqlmodel``.

Every read command pays Python's start-up, the imports and one query; the baseline is the
least any SQLModel program pays. Runs alternate between the two commands, so a change in
the machine's load touches both alike.

    python -m bench.startup               # 20 runs each
    python -m bench.startup --runs 3      # the smoke test's size
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import REPO, machine, summary, table


def _giaoviec() -> list[str]:
    # The installed console script when there is one (what users run), else the module.
    script = Path(sys.executable).with_name("giaoviec")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cli"]


def _time(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=REPO, check=True, capture_output=True)
    return time.perf_counter() - started


def measure(runs: int) -> str:
    with tempfile.TemporaryDirectory(prefix="giaoviec-startup-") as home:
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "GIAOVIEC_HOME": home,
            "GIAOVIEC_DATABASE_URL": f"sqlite:///{home}/giaoviec.db",
            "COLUMNS": "160",
        }
        env.pop("GIAOVIEC_TODAY", None)
        subprocess.run([*_giaoviec(), "init"], env=env, cwd=REPO, check=True, capture_output=True)
        status = [*_giaoviec(), "status", "--today", "01/03/2024"]
        baseline = [sys.executable, "-c", "import sqlmodel"]
        _time(status, env)  # one warm-up each: the first run pays for cold .pyc files
        _time(baseline, env)
        ours, base = [], []
        for _ in range(runs):
            ours.append(_time(status, env))
            base.append(_time(baseline, env))
    o, b = summary(ours), summary(base)
    rows = [
        ["giaoviec status (An Giang, 20 assignments)", o["median"], o["min"], o["max"]],
        ['python -c "import sqlmodel"', b["median"], b["min"], b["max"]],
    ]
    title = (
        f"CLI start-up, {runs} runs each, alternating: status / import sqlmodel = "
        f"{o['median'] / b['median']:.2f}× (medians)"
    )
    return table(title, ["command", "median s", "min s", "max s"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    print(f"Machine: {machine()}")
    print(measure(args.runs), flush=True)


if __name__ == "__main__":
    main()
