"""Landing zones on S3-compatible storage and SFTP, against real servers on 127.0.0.1."""

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import asyncssh
import boto3
import polars as pl
import pytest

from ami.orchestrate import run_chain_direct
from ami.settings import Settings
from tests.quality.test_vee import write_landing
from warehouse import Warehouse
from warehouse.state import state_path

pytestmark = pytest.mark.slow


def upload(endpoint: str, folder: Path, bucket: str) -> None:
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket=bucket)
    for path in folder.iterdir():
        client.put_object(Bucket=bucket, Key=f"hes/{path.name}", Body=path.read_bytes())


def test_s3_landing_loads_once(s3: str, settings: Settings, tmp_path: Path) -> None:
    write_landing(tmp_path / "landing")
    upload(s3, tmp_path / "landing", "ami-landing")
    first = run_chain_direct("s3://ami-landing/hes", settings=settings)
    assert {f.name for f in first.files if f.status == "loaded"} == {
        "meters.csv", "readings_2026-10-01.csv"}
    silver = Warehouse.at(settings.warehouse).scan("readings", date="2026-10-01").collect()
    assert silver.height == 4 * 48
    again = run_chain_direct("s3://ami-landing/hes", settings=settings)
    assert again.rows_loaded == 0


class _Server(asyncssh.SSHServer):
    connections: ClassVar[list[asyncssh.SSHServerConnection]] = []

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        _Server.connections.append(conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == "hes" and password == "s3cret"


@pytest.fixture
def sftp(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A real SFTP server (asyncssh) on loopback, chrooted to a folder; yields (port, root)."""
    root = tmp_path / "sftp-root"
    root.mkdir()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, object] = {}

    async def serve() -> None:
        key = asyncssh.generate_private_key("ssh-ed25519")
        server = await asyncssh.listen(
            "127.0.0.1", 0, server_host_keys=[key], server_factory=_Server,
            sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=str(root).encode()))
        box["server"] = server
        box["port"] = server.sockets[0].getsockname()[1]
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(serve(), loop)
    assert ready.wait(10), "SFTP server did not start"
    yield int(box["port"]), root  # type: ignore[call-overload]

    async def close() -> None:
        server = box["server"]
        server.close()  # type: ignore[attr-defined]
        await server.wait_closed()  # type: ignore[attr-defined]
        for conn in _Server.connections:
            conn.close()
            await conn.wait_closed()
        _Server.connections.clear()

    asyncio.run_coroutine_threadsafe(close(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def test_sftp_landing_loads_and_redacts(sftp: tuple[int, Path], settings: Settings) -> None:
    port, root = sftp
    write_landing(root / "landing")
    url = f"sftp://hes:s3cret@127.0.0.1:{port}/landing"
    result = run_chain_direct(url, settings=settings)
    assert result.rows_loaded > 0
    silver = Warehouse.at(settings.warehouse).scan("readings", date="2026-10-01").collect()
    assert silver.filter(pl.col("quality") == "measured").height > 150
    record = next(Path(state_path(Warehouse.at(settings.warehouse), "ingest/loads")).glob("*.json"))
    text = record.read_text()
    assert "s3cret" not in text
    assert "hes:***@" in text


def test_unreachable_landing_is_a_clear_transient_error(settings: Settings) -> None:
    from ami.errors import TransientError
    from pipelines.filedrop.helpers import list_landing

    with pytest.raises(TransientError, match="cannot be reached") as info:
        list_landing("sftp://hes:s3cret@127.0.0.1:1/landing")
    assert "s3cret" not in str(info.value)
