"""Loss analytics: technical vs non-technical, the three views, flags and change dates."""

import dataclasses
import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from ami.cli import main
from ami.orchestrate import run_chain_direct
from ami.province import ProvinceSpec, generate_province
from ami.settings import Settings
from ami.vocabulary import Quality
from models.balances import _gold_sources, pending_gold_days
from models.losses import loss_jumps, read_losses
from warehouse import Warehouse, partition_meta, write_partition
from warehouse.migrations import migrate, outdated
from warehouse.schemas import TABLES, schema_of

DAY_START = datetime(2026, 9, 30, 17, 0, tzinfo=UTC)  # local midnight of 2026-10-01
HEADER = ("meter_id,customer_id,meter_role,customer_group,transformer_id,feeder_id,branch_id,"
          "commune,contracted_kw,solar_kwp,dr_participant,valid_from,valid_to,network_node")


def stamp(k: int) -> str:
    return (DAY_START + timedelta(minutes=30 * k)).strftime("%Y-%m-%dT%H:%M:%SZ")


def lv_network() -> object:
    """A 0.4 kV feeder: the slack at the transformer, six customer buses on two branches."""
    import pandapower as pp

    net = pp.create_empty_network()
    lv = pp.create_bus(net, vn_kv=0.4, name="lv")
    pp.create_ext_grid(net, lv, vm_pu=1.0)
    previous = {0: lv, 1: lv}
    for i in range(6):
        bus = pp.create_bus(net, vn_kv=0.4, name=f"n{i + 1}")
        pp.create_line(net, previous[i % 2], bus, length_km=0.08, std_type="NAYY 4x50 SE")
        previous[i % 2] = bus
    pp.create_load(net, lv, p_mw=0.01)  # the model's own loads are replaced by the metered
    return net


def network_scenario(landing: Path, *, power_factor: float) -> float:
    """Landing files of one TBA with a network model; returns the true line loss [kWh]."""
    import pandapower as pp

    landing.mkdir(parents=True)
    net = lv_network()
    (landing / "networks").mkdir()
    pp.to_json(net, str(landing / "networks" / "A.json"))
    rows = [HEADER, "TT-A,,transformer_total,,A,F1,LS01,Xã A,,,false,2020-01-01T00:00:00Z,,"]
    rows += [f"C{i},K{i},customer,residential,A,F1,LS01,Xã A,10,{'5' if i == 6 else ''},"
             f"false,2020-01-01T00:00:00Z,,n{i}" for i in range(1, 7)]
    (landing / "meters.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    work = lv_network()
    work.load["in_service"] = False
    loads = [pp.create_load(work, int(work.bus.index[work.bus["name"] == f"n{i}"][0]),
                            p_mw=0.0) for i in range(1, 7)]
    tan_phi = math.tan(math.acos(power_factor))
    lines, true_loss = ["meter_id,interval_end,interval_minutes,kwh_import,kwh_export"], 0.0
    for k in range(1, 49):
        kw = np.array([1.0 + 0.6 * i * (1 + math.sin(2 * math.pi * k / 48)) for i in range(6)])
        solar = 4.0 * max(0.0, math.sin(math.pi * (k - 12) / 24)) if 12 < k < 36 else 0.0
        kw[5] -= solar  # the sixth customer exports at noon
        work.load.loc[loads, "p_mw"] = kw / 1000
        work.load.loc[loads, "q_mvar"] = kw / 1000 * tan_phi
        pp.runpp(work, numba=False)
        loss_kwh = float(work.res_line["pl_mw"].sum()) * 1000 * 0.5
        true_loss += loss_kwh
        for i in range(6):
            imp, exp = max(kw[i], 0) * 0.5, max(-kw[i], 0) * 0.5
            lines.append(f"C{i + 1},{stamp(k)},30,{imp:.4f},{exp:.4f}")
        lines.append(f"TT-A,{stamp(k)},30,{kw.sum() * 0.5 + loss_kwh:.4f},0")
    (landing / "readings_2026-10-01.csv").write_text("\n".join(lines) + "\n")
    return true_loss


@pytest.mark.slow
def test_power_flow_on_a_supplied_network_finds_the_true_line_loss(
        settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    truth = network_scenario(tmp_path / "landing", power_factor=settings.network_power_factor)
    result = run_chain_direct(str(tmp_path / "landing"), settings=settings)
    assert [(n.name, n.status) for n in result.networks] == [("networks/A.json", "loaded")]
    [row] = read_losses("2026-10", "transformer", settings=settings).iter_rows(named=True)
    assert row["technical_method"] == "power_flow"
    assert row["technical_loss_kwh"] == pytest.approx(truth, rel=0.01)
    assert row["loss_kwh"] == pytest.approx(truth, rel=0.01)  # no theft: all loss is technical
    assert abs(row["non_technical_kwh"]) < 0.02 * truth
    out = tmp_path / "losses.csv"
    assert main(["losses", "--month", "2026-10", "--level", "transformer", "--out",
                 str(out)]) == 0
    written = pl.read_csv(out)
    for column in ("level", "node_id", "period", "energy_in_kwh", "energy_out_kwh",
                   "loss_kwh", "loss_pct", "technical_loss_kwh", "measured_share"):
        assert column in written.columns
    assert "A" in capsys.readouterr().out
    # a damaged model is quarantined with its reason; the estimate takes over
    (tmp_path / "landing" / "networks" / "A.json").write_text("{not json")
    again = run_chain_direct(str(tmp_path / "landing"), settings=settings)
    [outcome] = again.networks
    assert outcome.status == "quarantined" and "not a pandapower network" in str(outcome.reason)


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Path]:
    root = tmp_path_factory.mktemp("province")
    generate_province(ProvinceSpec(meters=300, days=8, start=date(2026, 10, 1), seed=5),
                      root / "landing", root / "truth")
    settings = Settings(data_dir=root, landing=str(root / "landing"),
                        warehouse=str(root / "warehouse"))
    run_chain_direct(str(root / "landing"), settings=settings)
    return settings, root / "truth"


@pytest.mark.slow
def test_technical_estimate_is_within_15_percent_of_the_truth(
        province: tuple[Settings, Path]) -> None:
    settings, truth = province
    computed = Warehouse.at(settings.warehouse).scan("balance_day").filter(
        pl.col("level") == "transformer").group_by("node_id").agg(
        pl.col("technical_loss_kwh").sum(), pl.col("technical_method").unique()).collect()
    true = pl.read_parquet(truth / "transformer_days.parquet").group_by(
        pl.col("transformer_id").alias("node_id")).agg(pl.col("technical_kwh").sum())
    both = computed.join(true, on="node_id")
    assert both.height == computed.height > 3
    assert both["technical_method"].to_list() == [["estimate"]] * both.height
    error = (both["technical_loss_kwh"] / both["technical_kwh"] - 1).abs()
    assert error.max() < 0.15


@pytest.mark.slow
def test_loss_equals_the_truth_where_data_is_complete(province: tuple[Settings, Path]) -> None:
    settings, truth = province
    computed = Warehouse.at(settings.warehouse).scan("balance_day").filter(
        (pl.col("level") == "transformer") & (pl.col("measured_share") == 1.0)).select(
        "node_id", "date", "loss_kwh").collect()
    true = pl.read_parquet(truth / "transformer_days.parquet").filter("clean").select(
        pl.col("transformer_id").alias("node_id"), pl.col("date").cast(pl.String),
        "measured_loss_kwh")
    both = computed.join(true, on=["node_id", "date"])
    assert both.height >= 10
    assert (both["loss_kwh"] - both["measured_loss_kwh"]).abs().max() < 0.01


def balance(node: str, period: str, energy_in: float, loss: float, *, days: int = 30,
            reliable: bool = True, flags: str = "") -> dict[str, object]:
    return {"level": "transformer", "node_id": node, "period": period,
            "energy_in_kwh": energy_in, "energy_out_kwh": energy_in - loss, "loss_kwh": loss,
            "loss_pct": 100 * loss / energy_in, "technical_loss_kwh": 0.02 * energy_in,
            "technical_method": "estimate", "non_technical_kwh": loss - 0.02 * energy_in,
            "measured_share": 1.0 if reliable else 0.5, "reliable": reliable,
            "n_intervals": 48 * days, "n_measured": 48 * days, "n_missing": 0,
            "measured_kwh": 2 * energy_in - loss, "has_total_meter": True,
            "days": days, "flags": flags}


def write_months(wh: Warehouse, rows: dict[str, list[dict[str, object]]]) -> None:
    schema = schema_of("balance_month").polars
    for month, items in rows.items():
        write_partition(pl.DataFrame(items, schema=schema), "balance_month", {"month": month},
                        warehouse=wh)


def test_month_year_to_date_and_same_period_are_energy_weighted(settings: Settings) -> None:
    wh = Warehouse.at(settings.warehouse)
    write_months(wh, {
        "2025-10": [balance("A", "2025-10", 1000, 80), balance("B", "2025-10", 500, 20)],
        "2026-09": [balance("A", "2026-09", 3000, 90), balance("B", "2026-09", 100, 30)],
        "2026-10": [balance("A", "2026-10", 1000, 100), balance("B", "2026-10", 400, 40),
                    balance("C", "2026-10", 800, 200, reliable=False),
                    balance("D", "2026-10", 800, -50, flags="negative_loss")],
    })
    frame = read_losses("2026-10", "transformer", settings=settings)
    rows = {r["node_id"]: r for r in frame.iter_rows(named=True)}
    assert rows["A"]["loss_pct_ytd"] == pytest.approx(100 * 190 / 4000)  # not (3 + 10) / 2
    assert rows["A"]["loss_pct_last_year"] == pytest.approx(8.0)
    assert rows["B"]["loss_pct_ytd"] == pytest.approx(100 * 70 / 500)
    assert rows["A"]["gap_to_target_kwh"] == pytest.approx(100 - 60)
    assert rows["A"]["gap_to_stretch_kwh"] == pytest.approx(100 - 30)
    assert rows["A"]["plan_pct"] == 6.0
    # ranked by recoverable (non-technical) kWh; unreliable and negative balances last
    assert frame["node_id"].to_list()[:2] == ["A", "B"]
    assert (rows["A"]["rank"], rows["B"]["rank"]) == (1, 2)
    assert rows["C"]["rank"] is None and rows["D"]["rank"] is None
    assert rows["A"]["recoverable_kwh"] == pytest.approx(80)


def test_a_loss_jump_is_dated(settings: Settings) -> None:
    wh = Warehouse.at(settings.warehouse)
    schema = schema_of("balance_day").polars
    start = date(2026, 9, 20)
    for d in range(40):
        day = (start + timedelta(days=d)).isoformat()
        jump = 12.0 if day >= "2026-10-09" else 0.0  # a bypass from 9 October
        rows = [balance("A", day, 1000, 40 + 10 * jump + (d % 3), days=1),
                balance("B", day, 1000, 40 + (d % 5), days=1)]
        write_partition(pl.DataFrame(rows, schema=schema), "balance_day", {"date": day},
                        warehouse=wh)
    jumps = loss_jumps(wh, "2026-10", settings=settings)
    assert jumps.rows() == [("A", "2026-10-09", pytest.approx(12.0, abs=0.5))]


@pytest.mark.slow
def test_bad_grids_are_flagged_not_reported_as_fact(settings: Settings, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    rows = [HEADER,
            "TT-A,,transformer_total,,A,F1,LS01,Xã A,,,false,2020-01-01T00:00:00Z,,",
            "C1,K1,customer,residential,A,F1,LS01,Xã A,5,,false,2020-01-01T00:00:00Z,,",
            "C2,K2,customer,residential,B,F1,LS01,Xã A,5,,false,2020-01-01T00:00:00Z,,"]
    (landing / "meters.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    lines = ["meter_id,interval_end,interval_minutes,kwh_import,kwh_export"]
    for k in range(1, 49):
        lines += [f"TT-A,{stamp(k)},30,0.4,", f"C1,{stamp(k)},30,0.5,",  # total < customers
                  f"C2,{stamp(k)},30,0.5,", f"X9,{stamp(k)},30,0.5,"]   # B has no total meter
    (landing / "readings_2026-10-01.csv").write_text("\n".join(lines) + "\n")
    run_chain_direct(str(landing), settings=settings)
    rows_ = {r["node_id"]: r for r in read_losses(
        "2026-10", "transformer", settings=settings).iter_rows(named=True)}
    assert "negative_loss" in rows_["A"]["flags"] and rows_["A"]["rank"] is None
    assert rows_["A"]["loss_kwh"] == pytest.approx(48 * (0.4 - 0.5))  # kept, not clipped
    assert "no_total_meter" in rows_["B"]["flags"] and rows_["B"]["loss_kwh"] is None
    assert "partial_period" in rows_["A"]["flags"]  # one day of October
    findings = Warehouse.at(settings.warehouse).scan("findings").filter(
        pl.col("rule") == "unknown_meter").collect()
    assert findings["node_id"].to_list() == ["X9"]  # a meter CMIS does not list is named


@pytest.mark.slow
def test_interval_balances_add_up_to_the_day(province: tuple[Settings, Path]) -> None:
    settings, _ = province
    wh = Warehouse.at(settings.warehouse)
    day = wh.partitions("balance_day", "date")[2]
    intervals = wh.read("balance_interval", {"date": day})
    assert intervals.filter(pl.col("level") == "transformer").group_by("node_id").len()[
        "len"].unique().to_list() == [48]
    summed = intervals.group_by("level", "node_id").agg(
        pl.col("energy_in_kwh", "energy_out_kwh", "loss_kwh", "technical_loss_kwh").sum())
    both = wh.read("balance_day", {"date": day}).join(summed, on=["level", "node_id"],
                                                      suffix="_sum")
    assert both.height == wh.read("balance_day", {"date": day}).height
    for column in ("energy_in_kwh", "energy_out_kwh", "loss_kwh", "technical_loss_kwh"):
        assert (both[column] - both[f"{column}_sum"]).abs().max() < 1e-6


def moved_transformer(landing: Path) -> None:
    """TBA A moved from feeder F1 to F2 on 1 September; B stays on F1. One day of October."""
    landing.mkdir()
    rows = [HEADER]
    for meter, role, group in (("TT-A", "transformer_total", ""), ("C1", "customer",
                                                                   "residential")):
        rows += [f"{meter},,{role},{group},A,F1,LS01,Xã A,5,,false,2020-01-01T00:00:00Z,"
                 "2026-09-01T00:00:00Z,",
                 f"{meter},,{role},{group},A,F2,LS01,Xã A,5,,false,2026-09-01T00:00:00Z,,"]
    rows += ["TT-B,,transformer_total,,B,F1,LS01,Xã A,,,false,2020-01-01T00:00:00Z,,",
             "C2,K2,customer,residential,B,F1,LS01,Xã A,5,,false,2020-01-01T00:00:00Z,,"]
    (landing / "meters.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    lines = ["meter_id,interval_end,interval_minutes,kwh_import,kwh_export"]
    for k in range(1, 49):
        varied = 1 + (k % 5) / 10
        lines += [f"TT-A,{stamp(k)},30,{0.6 * varied:.4f},", f"C1,{stamp(k)},30,"
                  f"{0.55 * varied:.4f},", f"TT-B,{stamp(k)},30,{0.3 * varied:.4f},",
                  f"C2,{stamp(k)},30,{0.28 * varied:.4f},"]
    (landing / "readings_2026-10-01.csv").write_text("\n".join(lines) + "\n")


def test_the_month_places_a_transformer_on_the_feeder_its_days_do(
        settings: Settings, tmp_path: Path) -> None:
    # The transformer's latest meter row names its feeder, for the day and the month alike.
    moved_transformer(tmp_path / "landing")
    run_chain_direct(str(tmp_path / "landing"), settings=settings)
    wh = Warehouse.at(settings.warehouse)
    feeders = pl.col("level") == "feeder"
    day = wh.read("balance_day", {"date": "2026-10-01"}).filter(feeders)
    month = wh.read("balance_month", {"month": "2026-10"}).filter(feeders)
    columns = ["node_id", "energy_in_kwh", "energy_out_kwh", "loss_kwh", "measured_share"]
    assert month.select(columns).sort("node_id").equals(day.select(columns).sort("node_id"))
    transformers = wh.read("balance_day", {"date": "2026-10-01"}).filter(
        pl.col("level") == "transformer")
    energy = dict(transformers.select("node_id", "energy_in_kwh").iter_rows())
    assert dict(month.select("node_id", "energy_in_kwh").iter_rows()) == {
        "F1": energy["B"], "F2": energy["A"]}


def test_balances_of_the_old_share_are_migrated_then_rebuilt(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    wh = Warehouse.at(settings.warehouse)
    day = "2026-10-01"
    readings = schema_of("readings")
    write_partition(pl.DataFrame({"meter_id": ["C1"], "interval_end": [DAY_START],
                                  "interval_minutes": [30], "kwh_import": [0.5],
                                  "kwh_export": [0.0], "quality": [Quality.MEASURED],
                                  "rule": [None]}, schema=readings.polars),
                    "readings", {"date": day}, warehouse=wh)
    # A day balance written under schema version 2: the share of intervals, no parts.
    current = TABLES["balance_day"]
    old = dataclasses.replace(current, version=2, columns=tuple(
        c for c in current.columns if c.name not in ("n_missing", "measured_kwh")))
    monkeypatch.setitem(TABLES, "balance_day", old)
    row = {k: v for k, v in balance("A", day, 1000, 40, days=1).items() if k in old.polars}
    row["measured_share"] = 0.9
    sources = _gold_sources(wh, day, {})
    assert pending_gold_days(settings=settings) == [day]  # not built at all yet
    write_partition(pl.DataFrame([row], schema=old.polars), "balance_day", {"date": day},
                    warehouse=wh, sources=sources)
    assert pending_gold_days(settings=settings) == []  # built from the current sources
    # … but before the figures' definitions were versioned
    write_partition(pl.DataFrame([row], schema=old.polars), "balance_day", {"date": day},
                    warehouse=wh, sources={k: v for k, v in sources.items() if k != "figures"})
    monkeypatch.setitem(TABLES, "balance_day", current)
    [behind] = outdated(wh)
    assert (behind.table, behind.version, behind.current) == ("balance_day", 2, 3)
    migrate(wh)
    meta = partition_meta(wh, "balance_day", {"date": day})
    assert meta is not None and meta.schema_version == 3 and outdated(wh) == []
    [migrated] = wh.read("balance_day", {"date": day}).iter_rows(named=True)
    assert migrated["n_missing"] is None and migrated["measured_kwh"] is None
    assert migrated["measured_share"] == 0.9  # as written, until the day is rebuilt …
    assert pending_gold_days(settings=settings) == [day]  # … which the next run does
