"""First VEE pass: every bronze row accepted, corrected with the rule named, or quarantined."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from ami.orchestrate import run_chain_direct
from ami.settings import Settings
from warehouse import Warehouse
from warehouse.state import read_json

DAY_START = datetime(2026, 9, 30, 17, 0, tzinfo=UTC)  # local midnight starting 2026-10-01
METERS = """meter_id,customer_id,meter_role,customer_group,transformer_id,feeder_id,branch_id,commune,contracted_kw,solar_kwp,dr_participant,valid_from,valid_to,network_node
TT-A,,transformer_total,,A,F1,LS01,Xã A,,,false,2020-01-01T00:00:00Z,,
PC1,K1,customer,residential,A,F1,LS01,Xã A,5,,false,2020-01-01T00:00:00Z,,
PC2,K2,customer,residential,A,F1,LS01,Xã A,5,,false,2020-01-01T00:00:00Z,,
PC3,K3,customer,residential,A,F1,LS01,Xã A,5,,false,2020-01-01T00:00:00Z,,
"""


def stamp(k: int) -> str:
    return (DAY_START + timedelta(minutes=30 * k)).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_landing(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "meters.csv").write_text(METERS, encoding="utf-8")
    lines = ["meter_id,interval_end,interval_minutes,kwh_import,kwh_export"]
    for k in range(1, 49):
        lines.append(f"TT-A,{stamp(k)},30,1.5,")
        if k not in (10, 11) and not 20 <= k <= 29:  # a 1 h gap and a 5 h gap
            lines.append(f"PC1,{stamp(k)},30,0.5,")
        lines.append(f"PC2,{stamp(k)},30,{'0' if k > 24 else '0.4'},")  # bypass: zeros stay
        lines.append(f"PC3,{stamp(k)},30,0.3,")
    lines += [
        f"PC3,{stamp(5)},30,0.3,",        # exact duplicate → dropped, counted
        f"PC3,{stamp(6)},30,0.9,",        # conflicting duplicate → quarantined
        f"PC1,{stamp(10)},30,-0.2,",      # negative → quarantined (the gap stays a gap)
        "PC1,30/09/2026 18:00,30,0.5,",   # another date format → quarantined
        f"PC1,{stamp(11)},30,abc,",       # text in a numeric column → quarantined
        f"PC3,{stamp(7)},30,,",           # empty value → quarantined (and conflicting)
        f"PC3,{stamp(9)},half an hour,0.3,",  # text in interval_minutes → quarantined
        f"PC1,{(DAY_START + timedelta(minutes=607)):%Y-%m-%dT%H:%M:%SZ},30,0.5,",  # off grid
    ]
    lines = [line.replace(f"PC3,{stamp(8)},30,0.3,", f"PC3,{stamp(8)},30,500,") for line in lines]
    (folder / "readings_2026-10-01.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def silver(settings: Settings, tmp_path: Path) -> pl.DataFrame:
    write_landing(tmp_path / "landing")
    run_chain_direct(str(tmp_path / "landing"), settings=settings)
    return Warehouse.at(settings.warehouse).scan("readings", date="2026-10-01").collect()


def value(silver: pl.DataFrame, meter: str, k: int) -> dict[str, object]:
    ts = DAY_START + timedelta(minutes=30 * k)
    return silver.filter((pl.col("meter_id") == meter) & (pl.col("interval_end") == ts)).row(
        0, named=True)


def test_grid_is_complete(silver: pl.DataFrame) -> None:
    assert silver.group_by("meter_id").len().sort("meter_id")["len"].to_list() == [48] * 4
    assert silver.select(pl.struct("meter_id", "interval_end").is_unique().all()).item()


@pytest.mark.parametrize(
    ("meter", "k", "quality", "rule", "kwh"),
    [
        pytest.param("PC1", 10, "estimated", "linear_interpolation", 0.5, id="short-gap"),
        pytest.param("PC1", 22, "missing", "no_reading", None, id="long-gap-not-invented"),
        pytest.param("PC2", 30, "measured", "zero_run", 0.0, id="bypass-zero-stays-zero"),
        pytest.param("PC3", 6, "measured", None, 0.3, id="conflict-keeps-first"),
        pytest.param("PC3", 8, "estimated", "linear_interpolation", 0.3, id="absurd-rejected"),
    ],
)
def test_each_value_is_flagged(silver: pl.DataFrame, meter: str, k: int, quality: str,
                               rule: str | None, kwh: float | None) -> None:
    row = value(silver, meter, k)
    assert (row["quality"], row["rule"]) == (quality, rule)
    assert row["kwh_import"] == (pytest.approx(kwh) if kwh is not None else None)


def test_counts_reconcile(silver: pl.DataFrame, settings: Settings) -> None:

    wh = Warehouse.at(settings.warehouse)
    counts = read_json(wh, "vee/2026-10-01.json")
    raw_rows = len((Path(settings.data_dir).parent / "landing" / "readings_2026-10-01.csv")
                   .read_text().splitlines()) - 1
    assert counts["rows_in"] == raw_rows
    assert counts["rows_in"] == (counts["accepted"] + counts["duplicates_dropped"]
                                 + counts["quarantined"])
    assert counts["duplicates_dropped"] == 1
    quarantine = wh.scan("quarantine", date="2026-10-01").collect()
    reasons = " | ".join(quarantine["reason"].to_list())
    for needle in ("negative", "ISO 8601", "not a number", "conflicting duplicate",
                   "not a whole number of minutes",
                   "off the interval grid", "absurd value"):
        assert needle in reasons
    assert quarantine.height == counts["quarantined"] + counts["rejected_estimated"]
    assert quarantine["_row"].null_count() == 0


def test_rerun_is_idempotent(silver: pl.DataFrame, settings: Settings, tmp_path: Path) -> None:
    wh = Warehouse.at(settings.warehouse)
    before = Path(wh.data_file("readings", {"date": "2026-10-01"})).read_bytes()
    result = run_chain_direct(str(tmp_path / "landing"), settings=settings)
    assert result.rows_loaded == 0  # a re-delivered identical file loads nothing
    after = Path(wh.data_file("readings", {"date": "2026-10-01"})).read_bytes()
    assert before == after


def test_rows_spilling_over_midnight_wait_for_their_days_delivery(
        settings: Settings, tmp_path: Path) -> None:
    from quality.schedule import vee_totals

    landing = tmp_path / "landing"
    write_landing(landing)
    day1 = landing / "readings_2026-10-01.csv"
    # a meter with a fast clock: its next two intervals (2026-10-02 local) ride along
    day1.write_text(day1.read_text() + f"PC1,{stamp(49)},30,0.61,\nPC1,{stamp(50)},30,0.62,\n")
    run_chain_direct(str(landing), settings=settings)
    wh = Warehouse.at(settings.warehouse)
    assert wh.partitions("readings", "date") == ["2026-10-01"]  # 2026-10-02 is not judged
    totals = vee_totals(["2026-10-01", "2026-10-02"], settings=settings)
    assert (totals["days"], totals["waiting_days"], totals["waiting_rows"]) == (1, 1, 2)

    # the day's own delivery arrives: the day is built with the rows that waited
    lines = ["meter_id,interval_end,interval_minutes,kwh_import,kwh_export"]
    lines += [f"{m},{stamp(k)},30,0.4," for k in range(49, 97) for m in ("TT-A", "PC1", "PC2",
                                                                         "PC3")
              if not (m == "PC1" and k in (49, 50))]
    (landing / "readings_2026-10-02.csv").write_text("\n".join(lines) + "\n")
    run_chain_direct(str(landing), settings=settings)
    assert wh.partitions("readings", "date") == ["2026-10-01", "2026-10-02"]
    day2 = wh.scan("readings", date="2026-10-02").collect()
    assert value(day2, "PC1", 49)["kwh_import"] == pytest.approx(0.61)
    assert value(day2, "PC1", 50)["quality"] == "measured"
    assert day2.height == 4 * 48 and (day2["quality"] == "measured").all()
    assert vee_totals(["2026-10-02"], settings=settings)["rows_in"] == 4 * 48


def test_readings_only_a_meter_silent_all_day_is_a_finding(settings: Settings,
                                                           tmp_path: Path) -> None:
    """No meters file: the meters that reported before are expected, and none is unknown."""
    landing = tmp_path / "landing"
    landing.mkdir()
    for day in range(3):
        lines = ["meter_id,interval_end,interval_minutes,kwh_import"]
        for k in range(1, 49):
            lines.append(f"A,{stamp(48 * day + k)},30,0.3")
            if day < 2:  # B stops reporting on the third day
                lines.append(f"B,{stamp(48 * day + k)},30,0.2")
        (landing / f"readings_2026-10-0{day + 1}.csv").write_text("\n".join(lines) + "\n")
    run_chain_direct(str(landing), settings=settings)
    wh = Warehouse.at(settings.warehouse)
    findings = wh.scan("findings").collect()
    assert findings.filter(pl.col("rule") == "unknown_meter").height == 0
    silent = findings.filter(pl.col("rule") == "no_readings_day")
    assert silent.select("node_id", "date").rows() == [("B", "2026-10-03")]
    third = wh.scan("readings", date="2026-10-03").collect()
    assert third.filter(pl.col("meter_id") == "B").height == 48


def test_a_day_with_a_clock_change_stops_vee_with_the_fix() -> None:
    from ami.errors import ConfigError
    from quality.days import day_bounds

    with pytest.raises(ConfigError, match="lasts 23 h in Europe/London"):
        day_bounds("2013-03-31", Settings(timezone="Europe/London"))
    start, end = day_bounds("2013-03-31", Settings(timezone="UTC"))
    assert end - start == timedelta(days=1)
