"""Invariants of the synthetic province: conservation, determinism, nothing injected silently."""

import hashlib
import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from ami.province import FAULT_KINDS, THEFT_KINDS, ProvinceSpec, generate_province
from ami.province.calendar import day_type, holidays

SPEC = ProvinceSpec(meters=400, start=date(2026, 9, 26), days=8, seed=11, file_format="csv")


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("province")
    generate_province(SPEC, root / "landing", root / "truth")
    return root


def landing_readings(root: Path) -> pl.DataFrame:
    return pl.concat(
        pl.read_csv(f, schema_overrides={"kwh_export": pl.Float64})
        for f in sorted((root / "landing").glob("readings_*"))
    ).with_columns(pl.col("interval_end").str.to_datetime(time_zone="UTC"))


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_energy_is_conserved_per_transformer_and_interval(province: Path) -> None:
    meters = pl.read_csv(province / "landing" / "meters.csv", infer_schema=False).with_columns(
        pl.col("valid_from").str.to_datetime(time_zone="UTC"),
        pl.col("valid_to").str.to_datetime(time_zone="UTC"))
    readings = landing_readings(province).unique(["meter_id", "interval_end"], keep="first",
                                                maintain_order=True)
    joined = readings.join(meters, on="meter_id").filter(
        (pl.col("valid_from") < pl.col("interval_end"))
        & (pl.col("valid_to").is_null() | (pl.col("interval_end") <= pl.col("valid_to"))))
    total = pl.col("meter_role") == "transformer_total"
    imp, exp = pl.col("kwh_import"), pl.col("kwh_export").fill_null(0.0)
    balance = joined.group_by("transformer_id", "interval_end").agg(
        ((imp * total).sum() - (exp * total).sum() + (exp * ~total).sum()
         - (imp * ~total).sum()).alias("loss"))
    truth = pl.concat(pl.read_parquet(f) for f in (province / "truth").glob("transformer_int*"))
    days = pl.read_parquet(province / "truth" / "transformer_days.parquet").filter("clean")
    clean = truth.with_columns(pl.col("interval_end").dt.convert_time_zone("Asia/Ho_Chi_Minh")
                               .dt.offset_by("-1us").dt.date().alias("date")) \
        .join(days.select("transformer_id", "date"), on=["transformer_id", "date"])
    checked = clean.join(balance, on=["transformer_id", "interval_end"])
    assert checked.height == clean.height > 100
    error = (checked["loss"] - checked["technical_kwh"] - checked["nontechnical_kwh"]).abs()
    assert error.max() < 1e-6
    # and the totals identity holds exactly for every interval, clean or not
    identity = (truth["total_import_kwh"] - truth["total_export_kwh"]
                + truth["customer_export_kwh"] - truth["true_customer_import_kwh"]
                - truth["technical_kwh"]).abs()
    assert identity.max() < 1e-9


def test_same_seed_same_bytes_other_seed_differs(province: Path, tmp_path: Path) -> None:
    generate_province(SPEC, tmp_path / "a" / "landing", tmp_path / "a" / "truth")
    assert digest(tmp_path / "a" / "landing") == digest(province / "landing")
    assert digest(tmp_path / "a" / "truth") == digest(province / "truth")
    other = ProvinceSpec(**{**SPEC.__dict__, "seed": 12})
    generate_province(other, tmp_path / "b" / "landing", tmp_path / "b" / "truth")
    assert digest(tmp_path / "b" / "landing") != digest(province / "landing")


def test_every_injection_is_listed_and_nothing_else_differs(province: Path) -> None:
    injections = pl.read_csv(province / "truth" / "injections.csv")
    kinds = set(injections["kind"])
    assert set(THEFT_KINDS) <= kinds
    assert set(FAULT_KINDS) <= kinds
    listed = set(injections.filter(pl.col("category").is_in(["theft", "fault", "outage",
                                                             "never_reporting"]))["meter_id"])
    true = pl.concat(pl.read_parquet(f) for f in (province / "truth").glob("true_readings_*"))
    delivered = landing_readings(province).filter(pl.col("meter_id").str.starts_with("PC"))
    merged = true.join(delivered, on=["meter_id", "interval_end"], how="full", coalesce=True)
    differs = merged.filter(
        pl.col("kwh_import").is_null() | pl.col("true_kwh_import").is_null()
        | ((pl.col("kwh_import") - pl.col("true_kwh_import")).abs() > 1e-9))
    assert set(differs["meter_id"]) <= listed
    thieves = set(injections.filter(pl.col("category") == "theft")["meter_id"])
    assert thieves <= set(differs["meter_id"])  # every listed theft really changes readings
    labels = pl.read_parquet(province / "truth" / "meters.parquet")
    assert set(labels.filter(pl.col("category") == "theft")["meter_id"]) == thieves


def test_technical_loss_is_realistic(province: Path) -> None:
    days = pl.read_parquet(province / "truth" / "transformer_days.parquet")
    share = days.group_by("transformer_id").agg(
        (pl.col("technical_kwh").sum() / pl.col("total_import_kwh").sum()).alias("share"))
    assert share["share"].min() > 0.01
    assert share["share"].max() < 0.08
    assert 0.02 <= share["share"].median() <= 0.05


def test_profiles_have_their_shape(province: Path) -> None:
    true = pl.concat(pl.read_parquet(f) for f in (province / "truth").glob("true_readings_*"))
    labels = pl.read_parquet(province / "truth" / "meters.parquet")
    local = true.join(labels, on="meter_id").filter(pl.col("category") == "clean").with_columns(
        (pl.col("interval_end").dt.convert_time_zone("Asia/Ho_Chi_Minh")
         - pl.duration(minutes=30)).alias("start"))
    hour = pl.col("start").dt.hour()
    res = local.filter(pl.col("customer_group") == "residential", ~pl.col("solar"))
    peak = res.filter((hour >= 17) & (hour < 23))["true_kwh_import"].sum()
    assert peak / res["true_kwh_import"].sum() > 0.3  # evening peak, 25 % of the hours
    offices = local.filter(pl.col("customer_group") == "public_admin", ~pl.col("solar"))
    by_day = offices.group_by(pl.col("start").dt.weekday().alias("wd")).agg(
        pl.col("true_kwh_import").mean())
    sunday = by_day.filter(pl.col("wd") == 7)["true_kwh_import"][0]
    workday = by_day.filter(pl.col("wd") == 2)["true_kwh_import"][0]
    assert sunday < 0.4 * workday
    lights = local.filter(pl.col("customer_group") == "public_lighting")
    assert lights.filter((hour >= 10) & (hour < 15))["true_kwh_import"].max() == 0
    compliant = lights.join(
        pl.read_csv(province / "truth" / "injections.csv").filter(
            pl.col("category") == "lighting_not_dimmed"), on="meter_id", how="anti")
    night = compliant.filter((hour >= 0) & (hour < 4)).group_by("meter_id").agg(
        pl.col("true_kwh_import").mean().alias("night"))
    evening = compliant.filter((hour >= 19) & (hour < 23)).group_by("meter_id").agg(
        pl.col("true_kwh_import").mean().alias("evening"))
    ratio = night.join(evening, on="meter_id").select(pl.col("night") / pl.col("evening"))
    assert ratio.height > 0
    assert ratio.to_series().max() < 0.6


@pytest.mark.parametrize("minutes", [pytest.param(15, id="15-min"), pytest.param(60, id="60-min")])
def test_other_resolutions(tmp_path: Path, minutes: int) -> None:
    spec = ProvinceSpec(meters=60, start=date(2026, 10, 1), days=2, seed=3,
                        interval_minutes=minutes, file_format="parquet")
    generate_province(spec, tmp_path / "landing", tmp_path / "truth")
    readings = pl.read_parquet(tmp_path / "landing" / "readings_2026-10-01.parquet")
    assert set(readings["interval_minutes"]) == {minutes}
    per_meter = readings.filter(pl.col("meter_id") == "TT-LS01-T0001").height
    assert per_meter == 1440 // minutes


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"meters": 0}, "meters must be at least 1", id="no-meters"),
        pytest.param({"days": 0}, "days must be at least 1", id="no-days"),
        pytest.param({"file_format": "xlsx"}, "unknown file_format", id="bad-format"),
        pytest.param({"interval_minutes": 7}, "interval_minutes", id="bad-interval"),
    ],
)
def test_bad_specs_are_refused(tmp_path: Path, change: dict[str, object], message: str) -> None:
    spec = ProvinceSpec(**{**SPEC.__dict__, **change})
    with pytest.raises(ValueError, match=message):
        generate_province(spec, tmp_path / "l", tmp_path / "t")
    assert not (tmp_path / "l").exists()


def test_holidays_and_day_types() -> None:
    assert date(2026, 2, 17) in holidays(2026)  # Tết
    assert day_type(date(2026, 9, 2)) == "holiday"
    assert day_type(date(2026, 10, 4)) == "sunday"
    assert day_type(date(2026, 10, 5)) == "workday"


def test_moves_have_two_periods(province: Path) -> None:
    meters = pl.read_csv(province / "landing" / "meters.csv", infer_schema=False)
    moves = pl.read_csv(province / "truth" / "injections.csv").filter(
        pl.col("category") == "move")
    assert moves.height >= 1
    for row in moves.iter_rows(named=True):
        periods = meters.filter(pl.col("meter_id") == row["meter_id"]).sort("valid_from")
        assert periods.height == 2
        assert periods["valid_to"][0] == periods["valid_from"][1] == row["onset"]
        params = json.loads(row["params"])
        assert list(periods["transformer_id"]) == [params["from"], params["to"]]
