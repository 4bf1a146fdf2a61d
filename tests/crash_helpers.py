"""Helpers for the crash tests: run a ``giaoviec`` command as its own process, SIGKILL it
at a random moment, and count what happened; generate a big plan file; snapshot tables.

A kill is only meaningful if it lands while the command works, so every figure separates the
kills that landed mid-run (the process died of SIGKILL) from those that came after it had
already exited by itself.
"""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.conftest import REPO

# How long to let the world settle after a kill: the SMTP server may still be storing the
# message whose DATA the dead client had finished sending, and a PostgreSQL backend needs a
# moment to notice its client is gone and roll back.
SETTLE_SECONDS = 0.2


def crash_seed() -> int:
    """The seed of this run's random kill points: ``GIAOVIEC_CRASH_SEED`` to replay a run."""
    given = os.environ.get("GIAOVIEC_CRASH_SEED")
    return int(given) if given else random.SystemRandom().randrange(2**31)


@dataclasses.dataclass(frozen=True)
class RunResult:
    """How one run ended: ``killed`` when SIGKILL ended it, else it exited by itself."""

    returncode: int
    elapsed: float
    delay: float | None
    output: str

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL


class Runner:
    """Runs ``python -m cli …`` in ``env``; each run's output goes to one log file."""

    def __init__(self, env: Mapping[str, str], log: Path) -> None:
        self.env = dict(env)
        self.log = log

    def _start(self, args: Sequence[str]) -> subprocess.Popen[bytes]:
        with self.log.open("wb") as sink:
            return subprocess.Popen(
                [sys.executable, "-m", "cli", *args],
                env=self.env,
                cwd=REPO,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

    def _output(self) -> str:
        return self.log.read_text("utf-8", errors="replace")

    def run(self, args: Sequence[str], timeout: float = 300.0) -> RunResult:
        """Run to the end; a failure is a test failure, with the command's output."""
        began = time.monotonic()
        process = self._start(args)
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            process.kill()
            process.wait()
            message = f"{args} did not finish in {timeout}s:\n{self._output()}"
            raise AssertionError(message) from exc
        result = RunResult(code, time.monotonic() - began, None, self._output())
        assert code == 0, f"{args} exited with {code}:\n{result.output}"
        return result

    def run_and_kill(
        self, args: Sequence[str], delay: float, after: Callable[[], bool] | None = None
    ) -> RunResult:
        """Start the command and SIGKILL it ``delay`` seconds later, unless it ended before.

        With ``after``, the delay counts from the moment ``after()`` first holds (say, the
        run's first message reached the server), so kills can be aimed at one phase.
        A run that ends by itself before the kill must have succeeded: the tests never give a
        command a reason to fail, so any other exit is a bug worth seeing.
        """
        began = time.monotonic()
        process = self._start(args)
        if after is not None:
            give_up = began + 120  # a run that never gets there is killed all the same
            while process.poll() is None and not after() and time.monotonic() < give_up:
                time.sleep(0.005)
        try:
            code = process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            code = process.wait(timeout=30)
        elapsed = time.monotonic() - began
        time.sleep(SETTLE_SECONDS)
        result = RunResult(code, elapsed, delay, self._output())
        assert code in (0, -signal.SIGKILL), f"{args} exited with {code}:\n{result.output}"
        return result


class Aim:
    """Where to aim a kill: a random moment between a command's start-up and the usual
    length of a whole run, both learnt from runs that finished by themselves.

    Start-up (imports, reading the configuration) is most of a short command's life and the
    machine's speed varies with its load, so fixed delays would mostly hit start-up or come
    after the exit. A finished run updates the estimate of a whole run, and start-up scales
    with it.
    """

    def __init__(self, startup: float, whole: float) -> None:
        self.startup = startup
        self.whole = max(whole, startup + 0.05)

    def delay(self, rng: random.Random) -> float:
        return rng.uniform(0.9 * self.startup, 1.05 * self.whole)

    def learn(self, result: RunResult) -> None:
        if result.killed:
            # Killed runs say little, but if the machine slowed down no run may finish any
            # more: a small nudge up lets the estimate catch up, finished runs pull it back.
            self.whole *= 1.05
            return
        whole = 0.5 * self.whole + 0.5 * result.elapsed
        self.startup *= whole / self.whole
        self.whole = max(whole, self.startup + 0.05)


@dataclasses.dataclass
class Figures:
    """What a kill loop did, printed for docs/reliability.md (``pytest -s`` shows it)."""

    name: str
    seed: int
    database: str
    attempted: int = 0
    mid_run: int = 0
    after_exit: int = 0
    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    began: float = dataclasses.field(default_factory=time.monotonic)

    def record(self, result: RunResult) -> None:
        self.attempted += 1
        if result.killed:
            self.mid_run += 1
        else:
            self.after_exit += 1

    def bump(self, key: str, by: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + by

    def report(self) -> str:
        extra = ", ".join(f"{key} {value}" for key, value in self.counts.items())
        line = (
            f"[crash] {self.name} on {self.database} (seed {self.seed}): "
            f"{self.attempted} kills attempted, {self.mid_run} landed mid-run, "
            f"{self.after_exit} after exit; {extra}; "
            f"wall time {time.monotonic() - self.began:.1f}s"
        )
        print(line, flush=True)
        return line


FOOTPRINT_TABLES = (
    "plan",
    "department",
    "contact",
    "assignment",
    "dependency",
    "assignment_cooperator",
    "activity",
    "outbox",
)


def footprint(engine: Engine) -> dict[str, int]:
    """Row counts of the tables a plan load writes: enough to tell none, half and all apart."""
    with engine.connect() as connection:
        return {
            table: int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
            for table in FOOTPRINT_TABLES
        }


def generated_plan_yaml(rng: random.Random, units: int, assignments: int) -> str:
    """A valid plan file with many assignments, cooperators and prerequisites.

    Big enough that loading it takes a noticeable part of the command's run, so random kills
    land inside the load's transaction and not only during start-up. Prerequisites point only
    to earlier assignments, so the graph is a DAG by construction.
    """
    lines = [
        "version: 1",
        "plan:",
        "  code: sinh-tu-dong",
        "  title: Kế hoạch sinh tự động cho thử nghiệm sự cố",
        "  issuer: Ủy ban nhân dân tỉnh An Giang",
        "  coordinator: U00",
        "  event:",
        "    name: Hội nghị thử nghiệm",
        "    date: 2024-03-15",
        "units:",
    ]
    for unit in range(units):
        lines += [
            f"  - code: U{unit:02d}",
            f"    name: Đơn vị thử nghiệm {unit:02d}",
            "    contacts:",
            f"      - name: Thủ trưởng {unit:02d}",
            f"        email: thutruong{unit:02d}@example.gov.vn",
            "        is_head: true",
        ]
        if unit == 0:
            lines.append("        is_coordinator: true")
        lines += [
            f"      - name: Chuyên viên {unit:02d}",
            f"        email: chuyenvien{unit:02d}@example.gov.vn",
        ]
    lines.append("assignments:")
    for number in range(assignments):
        lead = rng.randrange(units)
        cooperating = sorted(rng.sample([u for u in range(units) if u != lead], 2))
        requires = sorted(rng.sample(range(number), min(number, rng.randint(0, 3))))
        lines += [
            f"  - code: A{number:04d}",
            f"    title: Nhiệm vụ thử nghiệm số {number}",
            f"    lead: U{lead:02d}",
            "    cooperating: [" + ", ".join(f"U{u:02d}" for u in cooperating) + "]",
            f"    deadline: {{event: {-rng.randint(1, 40)}}}",
        ]
        if requires:
            lines.append("    requires: [" + ", ".join(f"A{r:04d}" for r in requires) + "]")
    return "\n".join(lines) + "\n"
