"""``btk-console daemon``: the process that owns the engine for a project until SIGTERM.

It takes the state folder's lock (``<dump>/data``, engine.hold_state_folder) before anything else,
so two daemons, or a daemon and a ``btk-console live``, never trade the same state; the kernel drops
the lock when a process dies however it dies, so a SIGKILLed daemon's leftovers block nothing.
SIGHUP is ignored (an SSH session that drops does not stop trading); SIGTERM or SIGINT stops as
``btk-console live`` does (SPEC 8.5: no new signals, open positions stay saved and resume at the
next start), writes the live reports, removes the socket and pid file, and exits 0. A second
signal while stopping stops waiting.

The first line on stdout says where it listens (a test or a script can wait for it); then one
line per opened, closed or cancelled live signal, as ``btk-console live`` prints them; the same and
every error go to ``<dump>/logs/live.log`` (rotated, as ``btk-console live`` writes it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any, TextIO

import engine

from ..headless_live import describe, live_logger
from ..project import Project
from .hub import Hub
from .paths import TOKEN_ENV, DaemonPaths
from .runs import RunRequestError, RunTable
from .server import make_app, serve_tcp, serve_unix


def _say(out: TextIO, logger: Any, line: str) -> None:
    out.write(line + "\n")
    out.flush()
    logger.info(line)


async def run_daemon(
    project: Project,
    dump_dir: Path,
    out: TextIO,
    err: TextIO,
    *,
    tcp_port: int | None = None,
    token_env: str = TOKEN_ENV,
    live: list[tuple[str, str]] | None = None,
    exchange: str | None = None,
    wall: Any = time.time,
) -> int:
    """Serve the control API for ``project`` until SIGTERM/SIGINT; returns the exit code."""
    paths = DaemonPaths(dump_dir.absolute())
    problem = paths.socket_problem()
    if problem:
        err.write(f"btk-console: error: {problem}\n")
        return 2
    token = None
    if tcp_port is not None:
        token = os.environ.get(token_env, "")
        if len(token) < 16:
            err.write(
                f"btk-console: error: --tcp needs a bearer token of at least 16 characters in ${token_env} "
                "(e.g. export it from a secrets file); the Unix socket needs none\n"
            )
            return 2
    try:
        engine.hold_state_folder(paths.state)
    except engine.StateFolderLocked as exc:
        err.write(f"btk-console: error: another daemon or live process owns {paths.dump_dir}: {exc}\n")
        return 1
    engine.set_base_dir(paths.state)
    logger = live_logger(paths.logs)
    engine.set_logger(logger)
    paths.pid.write_text(f"{os.getpid()}\n", encoding="utf-8")

    hub = Hub()
    hub.attach()
    runs = RunTable(project, hub, wall=wall, dump_dir=paths.dump_dir)  # an optimizer writes under it
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    info: dict[str, Any] = {
        "pid": os.getpid(),
        "project": project.name,
        "dump_dir": str(paths.dump_dir),
        "socket": str(paths.socket),
        "tcp_port": None,
        "since": since,
    }

    def on_signal(result: Any) -> None:
        if not result.backtest and result.action in ("opened", "closed", "cancelled"):
            _say(out, logger, describe(result))

    stops = [engine.listen_signal(on_signal)]  # errors: the engine logs them itself (set_logger)
    app = make_app(hub, runs, info, token=None)
    runners = [await serve_unix(app, paths.socket)]
    if tcp_port is not None:
        tcp_app = make_app(hub, runs, info, token=token)
        runner, port = await serve_tcp(tcp_app, tcp_port)
        runners.append(runner)
        info["tcp_port"] = port
    paths.info.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def stop(signame: str) -> None:
        if stopping.is_set():
            _say(out, logger, f"{signame} again: not waiting any longer (state on disk is complete)")
            for t in list(runs.tasks.values()):
                t.cancel()
            return
        stopping.set()
        _say(
            out,
            logger,
            f"{signame}: stopping; open positions stay saved under {paths.state} and resume on the next start",
        )

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop, sig.name)
    where = f"unix:{paths.socket}" + (f" and http://127.0.0.1:{info['tcp_port']}" if tcp_port is not None else "")
    _say(out, logger, f"daemon pid {os.getpid()} for {project.name} on {where}; state in {paths.state}")
    code = 0
    for symbol, strategy in live or []:
        try:
            runs.start({"mode": "live", "symbol": symbol, "strategy": strategy, "exchange": exchange})
        except (RunRequestError, engine.PairQuarantinedError) as exc:
            err.write(f"btk-console: error: live {symbol} {strategy}: {exc}\n")
            logger.error(f"live {symbol} {strategy}: {exc}")
            code = 1
    try:
        await stopping.wait()
        await runs.stop_all()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        for unsubscribe in stops:
            unsubscribe()
        hub.detach()
        for runner in runners:
            await runner.cleanup()
        for path in (paths.socket, paths.pid, paths.info):
            with contextlib.suppress(OSError):
                path.unlink()
    for record in runs.runs.values():
        if record.mode == "live":
            report = engine.Live.dump(record.symbol, record.name, path=str(paths.dump_dir / "live"))
            if report:
                logger.info(f"report {report}")
        if record.status == "failed":
            code = 1
    _say(out, logger, f"stopped; reports under {paths.dump_dir / 'live'}")
    return code
