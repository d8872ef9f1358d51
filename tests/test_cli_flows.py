"""The command-line contract on a small province, without the scheduler (direct chain)."""

import json
from datetime import date
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from ami.cli import main
from ami.province import ProvinceSpec, generate_province
from ami.settings import Settings

SPEC = ProvinceSpec(meters=150, start=date(2026, 9, 10), days=28, seed=5, file_format="csv")


@pytest.fixture
def ingested(settings: Settings, tmp_path: Path) -> Settings:
    generate_province(SPEC, Path(settings.landing), settings.truth_dir)
    assert main(["ingest", "--landing", settings.landing]) == 0
    return settings


def test_losses_out_files_follow_the_contract(ingested: Settings, tmp_path: Path) -> None:
    for name in ("l.csv", "l.parquet", "l.xlsx"):
        assert main(["losses", "--month", "2026-09", "--level", "transformer",
                     "--out", str(tmp_path / name)]) == 0
    frame = pl.read_parquet(tmp_path / "l.parquet")
    for column in ("level", "node_id", "period", "energy_in_kwh", "energy_out_kwh", "loss_kwh",
                   "loss_pct", "technical_loss_kwh", "measured_share"):
        assert column in frame.columns
    assert set(frame["level"]) == {"transformer"}
    assert frame.height == pl.read_csv(tmp_path / "l.csv").height
    sheet = openpyxl.load_workbook(tmp_path / "l.xlsx").active
    assert sheet.cell(1, 2).value == "node_id"
    # the province row is the energy-weighted sum of its transformers
    assert main(["losses", "--month", "2026-09", "--level", "province",
                 "--out", str(tmp_path / "p.csv")]) == 0
    province = pl.read_csv(tmp_path / "p.csv").row(0, named=True)
    metered = frame.filter(pl.col("has_total_meter"))
    assert province["loss_kwh"] == pytest.approx(metered["loss_kwh"].sum())
    assert province["loss_pct"] == pytest.approx(
        100 * metered["loss_kwh"].sum() / metered["energy_in_kwh"].sum())


def test_anomalies_score_on_files(ingested: Settings, tmp_path: Path) -> None:
    landing = Path(ingested.landing)
    readings = pl.concat(pl.read_csv(f, infer_schema=False)
                         for f in sorted(landing.glob("readings_*.csv")))
    readings.write_csv(tmp_path / "readings.csv")
    out = tmp_path / "scores.csv"
    assert main(["anomalies", "score", "--readings", str(tmp_path / "readings.csv"),
                 "--meters", str(landing / "meters.csv"), "--out", str(out)]) == 0
    scores = pl.read_csv(out)
    for column in ("meter_id", "score", "rank", "reasons", "est_unbilled_kwh_month"):
        assert column in scores.columns
    assert scores["meter_id"].is_unique().all()
    assert sorted(scores["rank"]) == list(range(1, scores.height + 1))
    truth = pl.read_parquet(ingested.truth_dir / "meters.parquet")
    thieves = set(truth.filter(pl.col("category") == "theft")["meter_id"])
    top = set(scores.sort("rank").head(len(thieves))["meter_id"])
    assert len(top & thieves) >= 0.6 * len(thieves)


def test_anomalies_score_names_the_bad_row(settings: Settings, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "r.csv"
    path.write_text("meter_id,interval_end,kwh_import\nA,2026-10-01T00:30:00Z,1\n"
                    "A,01/10/2026 01:00,1\n", encoding="utf-8")
    assert main(["anomalies", "score", "--readings", str(path), "--out",
                 str(tmp_path / "o.csv")]) == 1
    err = capsys.readouterr().err
    assert "row 2" in err
    assert "interval_end" in err
    assert not (tmp_path / "o.csv").exists()


def test_savings_and_lighting(ingested: Settings, tmp_path: Path) -> None:
    assert main(["savings", "--month", "2026-09", "--out", str(tmp_path / "s.csv"),
                 "--lighting-out", str(tmp_path / "light.csv")]) == 0
    groups = pl.read_csv(tmp_path / "s.csv")
    for column in ("customer_group", "period", "consumption_kwh", "baseline_kwh",
                   "savings_pct", "target_pct", "met"):
        assert column in groups.columns
    assert groups["baseline_kwh"].null_count() == groups.height  # no last year in the data
    lights = pl.read_csv(tmp_path / "light.csv")
    not_dimmed = set(pl.read_csv(ingested.truth_dir / "injections.csv").filter(
        pl.col("category") == "lighting_not_dimmed")["meter_id"])
    for row in lights.iter_rows(named=True):
        assert row["compliant"] == (row["meter_id"] not in not_dimmed), row


def test_report_is_delivered_once(ingested: Settings) -> None:
    assert main(["report", "monthly", "--month", "2026-09", "--deliver"]) == 0
    assert main(["report", "monthly", "--month", "2026-09", "--deliver"]) == 0
    audit = (ingested.data_dir / "outbox" / "deliveries.jsonl").read_text().splitlines()
    assert len(audit) == 1
    assert json.loads(audit[0])["month"] == "2026-09"
    assert (ingested.data_dir / "outbox" / "2026-09" / "bao-cao-thang-2026-09.xlsx").exists()


def test_ingest_prints_a_reconciliation_that_adds_up(
    settings: Settings, capsys: pytest.CaptureFixture[str],
) -> None:
    import re

    generate_province(SPEC, Path(settings.landing), settings.truth_dir)
    assert main(["ingest", "--landing", settings.landing]) == 0
    out = " ".join(capsys.readouterr().out.split())
    match = re.search(r"VEE of (\d+) day\(s\): ([\d,]+) rows = ([\d,]+) accepted \+ ([\d,]+) "
                      r"exact duplicates dropped \+ ([\d,]+) quarantined", out)
    assert match, out[-400:]
    days, rows, accepted, dropped, quarantined = (int(g.replace(",", "")) for g in match.groups())
    assert days >= SPEC.days
    assert rows == accepted + dropped + quarantined
    assert dropped > 0  # the synthetic province has duplicated rows
    delivered = sum(pl.read_csv(f, infer_schema=False).height
                    for f in Path(settings.landing).glob("readings_*"))
    assert rows == delivered
