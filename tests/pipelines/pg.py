"""A throw-away real PostgreSQL server for tests (127.0.0.1, free port, temp data dir).

``make test`` installs the server (Debian ``postgresql``); when its binaries are missing
the fixture fails with that message rather than skipping.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

#: Where Debian puts the server binaries; ``AMI_PG_BIN`` overrides.
PG_BIN_DIRS = ("/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin",
               "/usr/lib/postgresql/15/bin")
RUN_AS = "postgres"


def pg_bin() -> Path:
    """The folder holding ``initdb`` and ``postgres``; fails the test when absent."""
    for folder in filter(None, (os.environ.get("AMI_PG_BIN"), *PG_BIN_DIRS)):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "postgres").exists():
            return Path(folder)
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    pytest.fail("PostgreSQL server binaries (initdb, postgres) not found: run `make test`, "
                "which installs them (apt-get install -y postgresql), or set AMI_PG_BIN",
                pytrace=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_user() -> list[str]:
    """Prefix to run server binaries as the ``postgres`` user when we are root."""
    if os.geteuid() != 0:
        return []
    # runuser lives in sbin, which a minimal PATH (CI, cron) may not list.
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    runuser = shutil.which("runuser", path=search)
    if runuser is None:
        pytest.fail("running as root without runuser: cannot start PostgreSQL", pytrace=False)
    return [runuser, "-u", RUN_AS, "--"]


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a server, yield its SQLAlchemy URL (database ``postgres``), stop and clean up."""
    binaries = pg_bin()
    prefix = _as_user()
    root = Path(tempfile.mkdtemp(prefix="ami-pg-"))
    data, sockets = root / "data", root / "sock"
    data.mkdir()
    sockets.mkdir()
    if prefix:
        shutil.chown(root, RUN_AS)
        shutil.chown(data, RUN_AS)
        shutil.chown(sockets, RUN_AS)
    port = _free_port()
    log = root / "server.log"
    process: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(
            [*prefix, str(binaries / "initdb"), "-D", str(data), "-U", "postgres",
             "--auth-local=trust", "--auth-host=reject", "-E", "UTF8", "--no-sync"],
            check=True, capture_output=True,
        )
        # Trust on loopback only; everything else stays rejected.
        hba = data / "pg_hba.conf"
        hba.write_text("host all all 127.0.0.1/32 trust\n",
                       encoding="utf-8")
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*prefix, str(binaries / "postgres"), "-D", str(data), "-p", str(port),
                 "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={sockets}",
                 "-c", "fsync=off"],
                stdout=out, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"PostgreSQL did not start: {log.read_text(errors='replace')}",
                                pytrace=False)
                time.sleep(0.1)
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        if process is not None:
            subprocess.run([*prefix, str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast",
                            "-w", "stop"], check=False, capture_output=True)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(root, ignore_errors=True)
