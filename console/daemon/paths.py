"""Where a project's daemon lives under its dump folder, and how a client finds it.

``<dump>/daemon.sock`` is the control socket, ``<dump>/daemon.pid`` the pid file (written after the
state folder's lock is taken, removed at a clean stop), ``<dump>/daemon.json`` says how to reach it
(socket path, TCP port if any, pid, project; never the token). The lock on ``<dump>/data``
(engine.hold_state_folder) is what keeps a second daemon out, so a pid file left by a SIGKILLed
daemon blocks nothing: the next daemon takes the lock and writes its own.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SOCKET_NAME = "daemon.sock"
PID_NAME = "daemon.pid"
INFO_NAME = "daemon.json"
TOKEN_ENV = "BTK_DAEMON_TOKEN"
UNIX_PATH_MAX = 107  # sun_path holds 108 bytes with the final NUL (Linux)


@dataclass(frozen=True, slots=True)
class DaemonPaths:
    dump_dir: Path

    @property
    def socket(self) -> Path:
        return self.dump_dir / SOCKET_NAME

    @property
    def pid(self) -> Path:
        return self.dump_dir / PID_NAME

    @property
    def info(self) -> Path:
        return self.dump_dir / INFO_NAME

    @property
    def state(self) -> Path:
        return self.dump_dir / "data"

    @property
    def logs(self) -> Path:
        return self.dump_dir / "logs"

    def socket_problem(self) -> str | None:
        """Why a Unix socket cannot be made at ``socket`` (its path is too long), or None."""
        n = len(os.fsencode(self.socket.absolute()))
        if n > UNIX_PATH_MAX:
            return (
                f"the control socket path {self.socket.absolute()} is {n} bytes, more than a Unix socket allows "
                f"({UNIX_PATH_MAX}); use a shorter --dump-dir"
            )
        return None

    def read_info(self) -> dict[str, Any] | None:
        """What the running daemon wrote about itself, or None (no daemon, or an unreadable file)."""
        try:
            data = json.loads(self.info.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None


def project_dump_dir(config: str | None, cwd: Path | None = None) -> Path:
    """The dump folder of the project ``btk-console`` would open (``config``, else ./btk.toml, else
    the demo's ./dump), read from its ``[project] dump_dir`` without importing the project: a
    client (status, stop, attach) must not run strategy files to find a socket."""
    import tomllib

    base = (cwd or Path.cwd()).absolute()
    path = Path(config).expanduser() if config is not None else base / "btk.toml"
    path = path if path.is_absolute() else base / path
    if path.is_dir():
        path = path / "btk.toml"
    if not path.is_file():
        if config is not None:
            raise FileNotFoundError(f"no project file {path}")
        return base / "dump"
    with path.open("rb") as f:
        data = tomllib.load(f)
    project = data.get("project", {})
    dump = project.get("dump_dir", "dump") if isinstance(project, dict) else "dump"
    return path.parent / Path(str(dump)).expanduser()
