"""A throwaway PostgreSQL server for the tests.

Either the one CI started (``TUNE_TEST_POSTGRES=DIR``, the folder given to
``.ci/postgres-start``), or one started here the same way when PostgreSQL's
binaries are installed. :func:`server_or_reason` says why there is none.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENV_DIR = "TUNE_TEST_POSTGRES"  # a server .ci/postgres-start started in this folder
ENV_REQUIRED = "TUNE_TEST_POSTGRES_REQUIRED"  # "1" (CI): a missing server fails instead of skipping


def _bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: p.parent.name)
    return versions[-1] if versions else None


@dataclass
class PostgresServer:
    """A server started by ``.ci/postgres-start DIR`` (``owned``: by these tests)."""

    dir: Path
    owned: bool = False

    @property
    def url(self) -> str:
        """The URL of the ``tune`` database, with the ``tune`` role's password."""
        return (self.dir / "url").read_text().strip()

    @property
    def password(self) -> str:
        return self.url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]

    def pg_ctl(self, *args: str) -> None:
        bindir = _bin()
        assert bindir is not None
        cmd = [str(bindir / "pg_ctl"), "-D", str(self.dir / "data"), "-l",
               str(self.dir / "data" / "server.log"), "-w", "-t", "60", *args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        # The server inherits no pipe of ours, or run() would wait for it to exit.
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=90)

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "stop")

    def start(self) -> None:
        self.pg_ctl("start")

    def new_database(self) -> str:
        """A fresh, empty database owned by ``tune``; returns its URL (password included)."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url.rsplit("/", 1)[0] + f"/{name}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_or_reason() -> tuple[PostgresServer | None, str]:
    """The server to test against, or None and why there is none."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return None, "psycopg is not installed (pip install -e '.[test]' installs it)"
    given = os.environ.get(ENV_DIR)
    if given:
        server = PostgresServer(Path(given))
        if not (server.dir / "url").is_file():
            return None, f"{ENV_DIR}={given} holds no url file from .ci/postgres-start"
        return server, ""
    if _bin() is None:
        return None, "PostgreSQL is not installed (apt-get install postgresql), and " \
                     f"{ENV_DIR} names no running server"
    folder = Path(tempfile.mkdtemp(prefix="tune-pg-"))  # under /tmp: the postgres user can reach it
    run = subprocess.run([str(REPO / ".ci" / "postgres-start"), str(folder), str(_free_port())],
                         capture_output=True, text=True, timeout=180)
    if run.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        last = (run.stderr.strip().splitlines() or ["no output"])[-1]
        return None, f".ci/postgres-start failed: {last}"
    return PostgresServer(folder, owned=True), ""


def discard(server: PostgresServer) -> None:
    """Stop a server these tests started and delete its folder."""
    if server.owned:
        try:
            server.pg_ctl("-m", "immediate", "stop")  # no shutdown checkpoint: the data goes too
        finally:
            shutil.rmtree(server.dir, ignore_errors=True)
