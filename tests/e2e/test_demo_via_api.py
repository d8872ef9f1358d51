"""`ami demo --api`: the readings reach the chain only through the HES API simulator."""

import os
from pathlib import Path

import polars as pl
import pytest

from ami.settings import Settings
from warehouse import Warehouse
from warehouse.state import read_manifest

pytestmark = pytest.mark.slow


def test_demo_pulls_the_readings_from_the_simulator(settings: Settings,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from ami.cli import main

    monkeypatch.delenv("SOURCES__HES_API__TOKEN", raising=False)
    args = ["demo", "--api", "--meters", "80", "--days", "32", "--start", "2026-09-01",
            "--no-last-year"]
    assert main(args) == 0
    assert "SOURCES__HES_API__TOKEN" not in os.environ  # the throw-away token is gone
    landing, feed = Path(settings.landing), settings.data_dir / "hes"
    assert list(landing.glob("readings*")) == []  # no readings file reached the landing zone
    served = sum(pl.read_csv(p, infer_schema=False).height for p in feed.glob("readings*"))
    manifest = read_manifest(Warehouse.at(settings.warehouse))
    api = [e for name, e in manifest.items() if name.startswith("hes_api/")]
    assert api and sum(e.rows for e in api) == served
    wh = Warehouse.at(settings.warehouse)
    month = wh.scan("balance_month").filter(pl.col("level") == "province").collect()
    assert month.filter(pl.col("period") == "2026-09")["measured_share"].item() > 0.95
