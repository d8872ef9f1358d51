"""Shared fixtures: an isolated data folder and settings for every test that asks."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from ami.settings import Settings, get_settings


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings whose every location is inside the test's temporary folder."""
    data = tmp_path / "data"
    for key, value in {
        "AMI_DATA_DIR": data, "AMI_LANDING": data / "landing",
        "AMI_WAREHOUSE": data / "warehouse", "AMI_TRUTH_DIR": data / "truth",
        "AMI_REPORTS_DIR": data / "reports", "AMI_AIRFLOW_HOME": data / "airflow",
    }.items():
        monkeypatch.setenv(key, str(value))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()
