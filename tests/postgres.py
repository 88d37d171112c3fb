"""A throwaway PostgreSQL server on 127.0.0.1 for the tests that share a storage.

The server is a private cluster in a temporary directory, started with the PostgreSQL binaries
of the machine (Debian's ``postgresql`` package; ``.ci/run`` installs it) and stopped after the
tests. PostgreSQL refuses to run as root, so under root the cluster belongs to the
``postgres`` system user.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import glob
import os
from pathlib import Path
import pwd
import shutil
import socket
import subprocess
import tempfile


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def _binaries() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise PostgresUnavailableError("initdb not found: install PostgreSQL (Debian: postgresql)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_owner(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Start a PostgreSQL server and yield a SQLAlchemy URL of an empty database on it."""
    bin_dir = _binaries()
    root = Path(tempfile.mkdtemp(prefix="optuna-llm-pg-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(root, owner.pw_uid, owner.pw_gid)
    data, log = root / "data", root / "server.log"
    port = _free_port()

    def run(*command: str) -> None:
        done = subprocess.run(
            _as_owner(list(command)), check=False, capture_output=True, text=True, timeout=120
        )
        if done.returncode:
            raise RuntimeError(f"{Path(command[0]).name} failed: {done.stderr.strip()}")

    try:
        run(str(bin_dir / "initdb"), "-D", str(data), "-U", "optuna", "-A", "trust", "--no-sync")
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start")
        try:
            run(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "optuna", "t")
            yield f"postgresql+psycopg2://optuna@127.0.0.1:{port}/t"
        finally:
            run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def dump(url: str) -> str:
    """Every row of every table of the database, as text (what ``pg_dump`` would hold)."""
    import sqlalchemy  # noqa: PLC0415 - only the PostgreSQL tests need it

    engine = sqlalchemy.create_engine(url)
    lines: list[str] = []
    with engine.connect() as connection:
        for table in sqlalchemy.inspect(connection).get_table_names():
            rows = connection.execute(sqlalchemy.text(f'SELECT * FROM "{table}"'))
            lines.extend(f"{table}: {tuple(row)}" for row in rows)
    engine.dispose()
    return "\n".join(lines)
