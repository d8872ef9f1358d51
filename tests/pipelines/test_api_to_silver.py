"""Readings pulled from the HES API reach silver exactly like the same readings as files."""

import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from ami.orchestrate import run_chain_direct
from ami.province import ProvinceSpec, generate_province
from ami.settings import Settings
from pipelines.hes_api.run import ingest_api
from pipelines.hes_api.simulator import Faults, start_simulator
from warehouse import Warehouse

SPEC = ProvinceSpec(meters=60, start=date(2026, 10, 1), days=2, seed=8, file_format="csv")
TOKEN = "test-token"  # a throw-away token for the loopback simulator


def test_api_readings_equal_file_readings_in_silver(settings: Settings, tmp_path: Path) -> None:
    files = tmp_path / "files"
    generate_province(SPEC, files, tmp_path / "truth")
    # The API path: meters still come as a file, readings only through the API.
    api_landing = tmp_path / "api-landing"
    api_landing.mkdir()
    shutil.copy(files / "meters.csv", api_landing / "meters.csv")
    shutil.copy(files / "transformers.csv", api_landing / "transformers.csv")
    with start_simulator(files, token=TOKEN, faults=Faults(repeat_pages={1})) as sim:
        pulled = ingest_api(sim.url, TOKEN, settings=settings, page_size=700, pages_per_load=2)
    assert pulled.duplicates_skipped > 0
    run_chain_direct(str(api_landing), settings=settings)
    by_api = Warehouse.at(settings.warehouse)

    other = Settings(**{**settings.model_dump(), "warehouse": str(tmp_path / "wh-files")})
    run_chain_direct(str(files), settings=other)
    by_files = Warehouse.at(other.warehouse)

    days = by_files.partitions("readings", "date")
    assert by_api.partitions("readings", "date") == days
    for day in days:
        assert_frame_equal(by_api.scan("readings", date=day).collect(),
                           by_files.scan("readings", date=day).collect())
    api_loss = by_api.scan("balance_day").filter(pl.col("level") == "province").collect()
    file_loss = by_files.scan("balance_day").filter(pl.col("level") == "province").collect()
    assert_frame_equal(api_loss, file_loss)


def test_ami_ingest_pulls_the_api_with_the_token_from_secrets(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ami.cli import main

    files = tmp_path / "files"
    generate_province(SPEC, files, tmp_path / "truth")
    landing = Path(settings.landing)
    landing.mkdir(parents=True)
    shutil.copy(files / "meters.csv", landing / "meters.csv")
    shutil.copy(files / "transformers.csv", landing / "transformers.csv")
    with start_simulator(files, token=TOKEN) as sim:
        assert main(["ingest", "--landing", str(landing), "--api", sim.url]) == 1
        assert "SOURCES__HES_API__TOKEN" in capsys.readouterr().err  # no token: clear error
        monkeypatch.setenv("SOURCES__HES_API__TOKEN", TOKEN)
        assert main(["ingest", "--landing", str(landing), "--api", sim.url]) == 0
    silver = Warehouse.at(settings.warehouse).scan("readings").collect()
    assert silver.filter(pl.col("quality") == "measured").height > 0.9 * silver.height
