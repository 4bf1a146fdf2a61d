"""Commands that run the Prefect flows: ``giaoviec serve`` and ``giaoviec run-flow …``.

Prefect is imported inside the command functions only (it takes seconds to import, and the
read commands must start fast). ``giaoviec serve`` is the embedded default: without
``PREFECT_API_URL`` it starts a Prefect server of its own as a subprocess, with its SQLite
database under ``GIAOVIEC_HOME/prefect``, serves the deployments against it, and stops it
again on Ctrl-C or SIGTERM. With ``PREFECT_API_URL`` set it serves against that server.

Run as ``python -m cli.flow_commands`` too (the same commands, without the rest of the CLI).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from cli.common import TodayOpt, err, fail, fail_user, out
from cli.common import option_date as _date

DEFAULT_PORT = 4200  # Prefect's usual port, when it is free
STARTUP_TIMEOUT = 180.0  # the first start migrates a fresh database (~20 s on a slow disk)
STOP_TIMEOUT = 20.0
STATE_FILE = "embedded-server.json"

run_flow_app = typer.Typer(
    help="Chạy một luồng công việc (Prefect) một lần, ngay trong tiến trình này.",
    no_args_is_help=True,
)


# --- the embedded Prefect server --------------------------------------------------------


@dataclasses.dataclass
class EmbeddedServer:
    """``prefect server start`` as a child process in its own process group."""

    process: subprocess.Popen[bytes]
    url: str  # where the UI is; the API is under /api
    home: Path  # PREFECT_HOME: the server's SQLite database and its log

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    @property
    def log_path(self) -> Path:
        return self.home / "server.log"

    @classmethod
    def start(cls, home: Path, host: str, port: int) -> EmbeddedServer:
        home.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "prefect", "server", "start"]
        command += ["--host", host, "--port", str(port)]
        with (home / "server.log").open("ab") as log:
            process = subprocess.Popen(
                command,
                env=server_environment(home, host, port),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own group: Ctrl-C in the terminal reaches this process only, which
                # stops the runner first and the server after it, and stop() can end the
                # whole group at once.
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        return cls(process, f"http://{_url_host(host)}:{port}", home)

    def wait_until_healthy(self, timeout: float = STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(
                    f"Máy chủ Prefect dừng ngay khi khởi động (mã {self.process.returncode}). "
                    f"Cuối nhật ký {self.log_path}:\n{self.log_tail()}"
                )
            if api_is_healthy(self.api_url):
                return
            time.sleep(0.25)
        raise ServerError(
            f"Máy chủ Prefect không trả lời sau {timeout:.0f} giây (nhật ký: {self.log_path})."
        )

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM to the whole group, SIGKILL after ``timeout``; waits so nothing is left."""
        if self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout)
        # Anything the server itself started went with its group; make sure of it.
        _signal_group(self.process.pid, signal.SIGKILL)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class ServerError(RuntimeError):
    """The embedded server did not start; the message is for the user (Vietnamese)."""


def server_environment(home: Path, host: str, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PREFECT_API_URL", None)
    env["PREFECT_HOME"] = str(home)
    # The UI finds the API through these (the --host/--port flags alone do not tell it).
    env["PREFECT_SERVER_API_HOST"] = host
    env["PREFECT_SERVER_API_PORT"] = str(port)
    # A government machine need not report usage to anyone; the operator may turn it on.
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    return env


def api_is_healthy(api_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM when ``giaoviec serve`` dies, even killed
    with SIGKILL, so the server is never left behind as an orphan."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        # As the server binds: a port whose last connections linger in TIME_WAIT is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def choose_port(host: str, wanted: int | None) -> int:
    """``wanted`` if given (and free), else 4200 when free, else any free port."""
    if wanted is not None:
        if not port_is_free(host, wanted):
            fail(f"Cổng {wanted} trên {host} đang được dùng; hãy chọn cổng khác bằng --port.")
        return wanted
    if port_is_free(host, DEFAULT_PORT):
        return DEFAULT_PORT
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


# --- the state file: which embedded server belongs to this GIAOVIEC_HOME ----------------


def _state_path(home: Path) -> Path:
    return home / STATE_FILE


def write_state(server: EmbeddedServer) -> None:
    state = {"serve_pid": os.getpid(), "server_pid": server.process.pid, "url": server.url}
    _state_path(server.home).write_text(json.dumps(state), encoding="utf-8")


def read_state(home: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(_state_path(home).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_prefect_server(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"prefect" in cmdline and b"server" in cmdline


def clear_stale_state(home: Path) -> None:
    """Refuse a second ``serve`` for one home; end a server and flow runs its dead ``serve``
    left behind."""
    state = read_state(home)
    if state is None:
        return
    if state.get("serve_pid") != os.getpid() and _alive(state.get("serve_pid")):
        fail(
            f"`giaoviec serve` đang chạy cho thư mục dữ liệu này (tiến trình "
            f"{state['serve_pid']}, {state.get('url')})."
        )
    server_pid = state.get("server_pid")
    if isinstance(server_pid, int) and _alive(server_pid) and _is_prefect_server(server_pid):
        _signal_group(server_pid, signal.SIGTERM)
    serve_pid = state.get("serve_pid")
    if isinstance(serve_pid, int) and not _alive(serve_pid):
        from flows.guard import end_runs_of

        end_runs_of(serve_pid)
    _state_path(home).unlink(missing_ok=True)


def embedded_api_url(home: Path) -> str | None:
    """The API of the embedded server ``giaoviec serve`` runs for this home, if it answers."""
    state = read_state(home)
    if state is None or not _alive(state.get("serve_pid")):
        return None
    api_url = f"{state.get('url')}/api"
    return api_url if api_is_healthy(api_url) else None


# --- commands ---------------------------------------------------------------------------


def _require_schema() -> None:
    from sqlalchemy import inspect

    from tracking import db

    if not inspect(db.default_engine()).has_table("alembic_version"):
        fail("Cơ sở dữ liệu chưa được khởi tạo: hãy chạy `giaoviec init`.")


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    # SIGTERM ends `serve` like Ctrl-C does: through the finally blocks that stop the server.
    raise KeyboardInterrupt


def serve(
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            envvar="GIAOVIEC_PREFECT_PORT",
            help="Cổng của máy chủ Prefect nhúng (mặc định 4200 nếu trống, nếu không thì "
            "một cổng trống bất kỳ).",
            show_default=False,
        ),
    ] = None,
    host: Annotated[
        str, typer.Option("--host", help="Địa chỉ lắng nghe của máy chủ Prefect nhúng.")
    ] = "127.0.0.1",
) -> None:
    """Chạy các lịch tự động trên máy này: quét hằng ngày, gửi tin, báo cáo tuần."""
    from tracking.settings import get_settings

    _require_schema()
    # Ctrl-C and SIGTERM both end in KeyboardInterrupt, even if our parent ignored SIGINT.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    server: EmbeddedServer | None = None
    try:
        external = os.environ.get("PREFECT_API_URL")
        if external:
            out.print(f"Dùng máy chủ Prefect có sẵn: {external}")
        else:
            home = get_settings().home / "prefect"
            clear_stale_state(home)
            server = EmbeddedServer.start(home, host, choose_port(host, port))
            out.print(
                f"Đang khởi động máy chủ Prefect (nhật ký: {server.log_path})…", soft_wrap=True
            )
            server.wait_until_healthy()
            write_state(server)
            # Before Prefect is imported: its settings are read once, at import.
            os.environ["PREFECT_HOME"] = str(home)
            os.environ["PREFECT_API_URL"] = server.api_url
        ui = server.url if server else (external or "").removesuffix("/").removesuffix("/api")
        from flows.deployments import SCHEDULE_TEXT, serve_all

        out.print(f"Giao diện Prefect: [bold]{ui}[/]", highlight=False, soft_wrap=True)
        out.print(f"Lịch tự động (giờ Việt Nam): {SCHEDULE_TEXT}.")
        out.print("Nhấn Ctrl-C để dừng.")
        serve_all()
    except ServerError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        pass
    finally:
        # A second Ctrl-C must not cut the shutdown short and leave the server running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if server is not None:
            server.stop()
            _state_path(server.home).unlink(missing_ok=True)
            out.print("Đã dừng máy chủ Prefect.")
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, previous)


def _prepare_prefect() -> None:
    """Point Prefect at a server before it is imported (its settings are read at import).

    Already imported (a test harness): leave it. ``PREFECT_API_URL`` set: use it. Else the
    embedded server of a running ``giaoviec serve``; else Prefect's temporary server, keeping
    its history in ``GIAOVIEC_HOME/prefect`` where ``giaoviec serve`` will show it.
    """
    if "prefect" in sys.modules or os.environ.get("PREFECT_API_URL"):
        return
    from tracking.settings import get_settings

    home = get_settings().home / "prefect"
    api_url = embedded_api_url(home)
    if api_url:
        os.environ["PREFECT_API_URL"] = api_url
    else:
        home.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("PREFECT_HOME", str(home))
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def _run(flow_call: Any) -> Any:
    """Run a flow in this process; a user error inside it becomes a message and exit 2."""
    from models.errors import UserError

    try:
        return flow_call()
    except UserError as exc:
        fail_user(exc)


@run_flow_app.command("sweep")
def run_sweep(today: TodayOpt = None) -> None:
    """Quét hằng ngày một lần: thời hạn, nhắc việc, gửi tin, tiến độ theo đơn vị."""
    day = _date(today)
    _require_schema()
    _prepare_prefect()
    from flows.daily_sweep import daily_sweep

    summary = _run(lambda: daily_sweep(today=day))
    out.print(summary.message, highlight=False)


@run_flow_app.command("deliver")
def run_deliver(today: TodayOpt = None) -> None:
    """Gửi các tin đã đến lượt trong hàng đợi."""
    day = _date(today)
    _require_schema()
    _prepare_prefect()
    from flows.deliver_outbox import deliver_outbox

    summary = _run(lambda: deliver_outbox(today=day))
    out.print(summary.message, highlight=False)


@run_flow_app.command("weekly-report")
def run_weekly_report(today: TodayOpt = None) -> None:
    """Gửi báo cáo tuần cho đơn vị điều phối."""
    day = _date(today)
    _require_schema()
    _prepare_prefect()
    from flows.weekly_report import WeeklyReportNotDelivered, weekly_report

    try:
        summary = _run(lambda: weekly_report(today=day))
    except WeeklyReportNotDelivered as exc:
        err.print(str(exc), highlight=False)
        raise typer.Exit(1) from exc
    out.print(summary.message, highlight=False)


@run_flow_app.command("kickoff")
def run_kickoff(
    plan: Annotated[str, typer.Argument(help="Mã kế hoạch.")],
    today: TodayOpt = None,
    by: Annotated[
        str | None, typer.Option("--by", envvar="GIAOVIEC_USER", help="Người thực hiện.")
    ] = None,
) -> None:
    """Kích hoạt kế hoạch và gửi ngay danh sách nhiệm vụ cho từng đơn vị (một lần)."""
    day = _date(today)
    _require_schema()
    _prepare_prefect()
    from flows.kickoff import kickoff

    summary = _run(lambda: kickoff(plan, today=day, by=by))
    out.print(summary.message, highlight=False)


app = typer.Typer(
    help="giaoviec — các luồng công việc tự động (Prefect).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve)
app.add_typer(run_flow_app, name="run-flow")


if __name__ == "__main__":
    app()
