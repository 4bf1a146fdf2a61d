"""What every scheduled flow does first: bind its process to the runner that started it, and
take its job's lock so that one run of the job works at a time.

Neither relies on Prefect's state surviving a restart (see ``tracking.runlock`` for why its
deployment concurrency limits are not used): the kernel ends an orphaned run, and the lock is
freed by the operating system or the database when its holder dies.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

from tracking import db, runlock

# Set by ``giaoviec serve`` (and recommended for workers) to the pid of the process that starts
# flow runs: a run whose parent is that process dies with it (see ``end_with_runner``).
RUNNER_PID_ENV = "GIAOVIEC_RUNNER_PID"


class JobBusy(RuntimeError):
    """Another run of the same job still held its lock after the wait; the message is
    Vietnamese (the Prefect UI shows it as the run's failure)."""


@contextlib.contextmanager
def one_at_a_time(job: str, *, wait_seconds: float) -> Iterator[bool]:
    """Hold ``job``'s lock for the block; False when another run kept it ``wait_seconds``."""
    end_with_runner()
    with runlock.hold(db.default_engine(), job, wait_seconds=wait_seconds) as held:
        yield held


@contextlib.contextmanager
def wait_for_turn(job: str, *, wait_seconds: float) -> Iterator[None]:
    """``one_at_a_time`` for jobs whose runs queue: a run still waiting after
    ``wait_seconds`` fails, saying so, rather than run beside the other."""
    with one_at_a_time(job, wait_seconds=wait_seconds) as held:
        if not held:
            raise JobBusy(
                f"Một lượt chạy khác của '{job}' vẫn đang chạy sau {wait_seconds / 60:.0f} "
                "phút chờ: lượt này dừng, lượt sau theo lịch sẽ làm tiếp."
            )
        yield


def end_with_runner() -> None:
    """In a flow-run process started by ``giaoviec serve``: die (SIGKILL) when serve dies.

    A run's process is a child of the runner; killed with SIGKILL, the runner cannot stop it,
    and the orphan would go on sending with nobody to watch it. Linux's parent-death signal
    ends it with its parent instead. What the killed run had claimed in the outbox stays
    leased until its lease runs out, then the next delivery takes it (sent at most once more
    for the messages in flight). Elsewhere (a run by hand, another OS) this does nothing.
    """
    runner = os.environ.get(RUNNER_PID_ENV, "")
    if not runner.isdigit() or sys.platform != "linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    # The runner may have died before the signal was armed: then we are already an orphan.
    if os.getppid() != int(runner):
        os.kill(os.getpid(), signal.SIGKILL)


def end_runs_of(runner_pid: int) -> list[int]:
    """SIGKILL the flow-run processes a dead runner (``runner_pid``) left behind.

    ``end_with_runner`` arms the parent-death signal when the flow starts; a run killed with
    its runner while still starting (importing, or waiting for a Prefect server that died
    too) has not armed it yet. Such a run can never send (it would end itself at the flow's
    start), but it lingers; the next ``serve`` ends it. A run is recognised by its
    environment: ``GIAOVIEC_RUNNER_PID`` set to the dead runner's pid (Linux /proc).
    """
    marker = f"{RUNNER_PID_ENV}={runner_pid}".encode()
    ended = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:  # gone, or another user's
            continue
        if marker in environ:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)
                ended.append(int(entry.name))
    return ended
