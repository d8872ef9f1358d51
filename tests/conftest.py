"""Shared fixtures: an isolated data folder and settings for every test that asks."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from ami.settings import Settings, get_settings


def isolated_settings(monkeypatch: pytest.MonkeyPatch, data: Path) -> Settings:
    """Settings whose every location is inside ``data`` (also for module-scope fixtures)."""
    for key, value in {
        "AMI_DATA_DIR": data, "AMI_LANDING": data / "landing",
        "AMI_WAREHOUSE": data / "warehouse", "AMI_TRUTH_DIR": data / "truth",
        "AMI_REPORTS_DIR": data / "reports", "AMI_AIRFLOW_HOME": data / "airflow",
    }.items():
        monkeypatch.setenv(key, str(value))
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings whose every location is inside the test's temporary folder."""
    yield isolated_settings(monkeypatch, tmp_path / "data")
    get_settings.cache_clear()


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """A real S3 API (moto's server mode) on loopback; yields its endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for key, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
                       "AMI_WORK_DIR": str(tmp_path / "work")}.items():
        monkeypatch.setenv(key, value)
    yield endpoint
    server.stop()
