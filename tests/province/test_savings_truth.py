"""Known savings behaviours of the synthetic province and their truth files."""

from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from ami.province import ProvinceSpec, daily_truth, generate_province, temperature_frame
from ami.province.clock import utc_instant
from ami.province.generate import build_province
from ami.province.load import advertising_window, dr_windows, simulate_day
from pipelines.filedrop.helpers import kind_of

# Mon 2026-06-08 .. Fri 06-12, all working days; the savings start mid-span.
SPEC = ProvinceSpec(meters=500, start=date(2026, 6, 8), days=5, seed=5, file_format="parquet",
                    saving_from=date(2026, 6, 10), advertising_share=0.5, new_solar_share=0.2)
LOCAL = "Asia/Ho_Chi_Minh"


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("savings")
    generate_province(SPEC, root / "landing", root / "truth")
    return root


def local_date(column: str = "interval_end") -> pl.Expr:
    return (pl.col(column).dt.convert_time_zone(LOCAL).dt.offset_by("-1us").dt.date()
            .alias("date"))


def true_readings(root: Path) -> pl.DataFrame:
    return pl.concat(pl.read_parquet(f) for f in sorted((root / "truth").glob("true_readings_*")))


def test_offices_save_their_share_from_saving_from() -> None:
    p = build_province(SPEC)
    offices = np.flatnonzero((p.group == 3) & (p.solar_on(10**9) == 0))
    assert len(offices) >= 3
    with_saving = daily_truth(SPEC)
    without = daily_truth(replace(SPEC, office_saving_pct=0.0))
    ids = list(p.meter_id[offices])
    both = with_saving.join(without, on=["meter_id", "date"], suffix="_0").filter(
        pl.col("meter_id").is_in(ids))
    assert both.height == len(ids) * SPEC.days
    before = both.filter(pl.col("date") < SPEC.saving_from)
    after = both.filter(pl.col("date") >= SPEC.saving_from)
    assert before.height and after.height
    assert (before["kwh_import_true"] == before["kwh_import_true_0"]).all()
    # each interval is rounded to 0.001 kWh: at most 48 × 0.001 per day apart
    expected = after["kwh_import_true_0"] * (1 - SPEC.office_saving_pct / 100)
    assert ((after["kwh_import_true"] - expected).abs() <= 0.048).all()
    ratio = after["kwh_import_true"].sum() / after["kwh_import_true_0"].sum()
    assert ratio == pytest.approx(0.92, abs=1e-4)
    # nobody else changes
    others = with_saving.join(without, on=["meter_id", "date"], suffix="_0").filter(
        ~pl.col("meter_id").is_in(list(p.meter_id[p.group == 3])))
    assert (others["kwh_import_true"] == others["kwh_import_true_0"]).all()


def test_advertising_lights_are_cut_by_half_in_the_june_evening_peak() -> None:
    p = build_province(SPEC)
    no_cut = replace(SPEC, office_saving_pct=0.0, saving_from=date(2027, 1, 1))
    offices = p.group == 3  # they save too, from saving_from
    lights = (p.group == 4) & p.lit_compliant  # at half power all day in May–July
    saving = offices | lights
    window = advertising_window(SPEC)
    assert window.sum() == 10  # 17:30–22:30, half-hours
    compliant = [i for i, c in p.advertising.items() if c]
    defiant = [i for i, c in p.advertising.items() if not c]
    assert len(compliant) >= 3 and defiant
    others = np.flatnonzero((p.group == 1) & ~np.isin(np.arange(len(p.group)),
                                                      list(p.advertising)))
    for d in range(2, SPEC.days):  # from saving_from
        cut = simulate_day(p, SPEC, d, {}).load
        full = simulate_day(p, no_cut, d, {}).load
        evening_cut = cut[np.ix_(compliant, window)].sum()
        evening_full = full[np.ix_(compliant, window)].sum()
        assert evening_cut / evening_full == pytest.approx(0.5, abs=1e-3)
        assert np.array_equal(cut[~saving][:, ~window], full[~saving][:, ~window])
        hour = (np.arange(cut.shape[1]) + 0.5) * 24 / cut.shape[1]
        evening = (full[lights].min(axis=0) > 0) & (hour < 23) & (hour >= 4)  # lit, not night
        day_full, day_cut = full[lights][:, evening], cut[lights][:, evening]
        assert evening.sum() >= 6
        assert day_cut.sum() / day_full.sum() == pytest.approx(0.5, abs=1e-3)
        assert np.array_equal(cut[defiant], full[defiant])
        # the lights are visible: the evening share of advertising customers is higher
        share = full[np.ix_(defiant + compliant, window)].sum() / full[defiant + compliant].sum()
        assert share > full[np.ix_(others, window)].sum() / full[others].sum() + 0.05
    for d in range(2):  # before saving_from, nothing is cut
        assert np.array_equal(simulate_day(p, SPEC, d, {}).load,
                              simulate_day(p, no_cut, d, {}).load)


def test_no_advertising_cut_outside_may_to_july() -> None:
    spec = replace(SPEC, start=date(2026, 9, 7), saving_from=date(2026, 1, 1))
    p = build_province(spec)
    ads = list(p.advertising)
    for d in range(spec.days):
        saving = simulate_day(p, spec, d, {}).load
        none = simulate_day(p, replace(spec, saving_from=date(2027, 1, 1)), d, {}).load
        assert np.array_equal(saving[ads], none[ads])


def test_advertising_tags_and_truth(province: Path) -> None:
    meters = pl.read_csv(province / "landing" / "meters.csv", infer_schema=False)
    assert meters.columns[-1] == "tags"
    tagged = set(meters.filter(pl.col("tags") == "advertising")["meter_id"])
    assert set(meters.filter(pl.col("tags").is_not_null())["meter_id"]) == tagged
    assert set(meters.filter(pl.col("meter_id").is_in(list(tagged)))["customer_group"]) == {
        "commercial"}
    truth = pl.read_csv(province / "truth" / "advertising.csv")
    assert truth.schema == {"meter_id": pl.String, "compliant": pl.Boolean}
    assert set(truth["meter_id"]) == tagged
    assert 0 < truth["compliant"].sum() < truth.height


def test_dr_truth_is_the_true_import_removed(province: Path) -> None:
    p = build_province(SPEC)
    windows = dr_windows(SPEC)
    assert len(windows) == 3
    events = pl.read_csv(province / "landing" / "dr_events_2026-06-08.csv")
    assert events.columns == ["event_id", "start_at", "end_at", "target_kw", "participants"]
    participants = set(p.meter_id[p.dr])
    assert len(participants) >= 3
    meters = pl.read_csv(province / "landing" / "meters.csv")
    assert set(meters.filter(pl.col("dr_participant"))["meter_id"]) == participants
    for row in events.iter_rows(named=True):
        assert set(row["participants"].split(";")) == participants
    truth = pl.read_parquet(province / "truth" / "dr_truth.parquet")
    assert truth.columns == ["event_id", "meter_id", "reduction_kwh", "window_hours"]
    assert truth.height == 3 * len(participants)
    assert set(truth["window_hours"]) == {3.0}
    assert set(truth["event_id"]) == set(events["event_id"])
    true = true_readings(province)
    for d, (first, last) in windows.items():
        day = SPEC.start + timedelta(days=d)
        written = true.filter(local_date() == day).group_by("meter_id").agg(
            pl.col("true_kwh_import").sum().alias("with_dr"))
        no_dr = simulate_day(p, SPEC, d, {})
        without = pl.DataFrame({"meter_id": p.meter_id,
                                "without_dr": no_dr.true_import.sum(axis=1)})
        event = truth.filter(pl.col("event_id") == f"DR-{day:%Y%m%d}")
        checked = event.join(written, on="meter_id").join(without, on="meter_id")
        assert checked.height == len(participants)
        diff = checked["without_dr"] - checked["with_dr"] - checked["reduction_kwh"]
        assert diff.abs().max() < 1e-9
        assert (checked["reduction_kwh"] > 0).sum() >= 1
        # and only the participants' window changed
        with_dr = simulate_day(p, SPEC, d, windows)
        changed = np.flatnonzero((with_dr.true_import != no_dr.true_import).any(axis=1))
        assert set(p.meter_id[changed]) <= participants
        assert not (with_dr.true_import != no_dr.true_import)[:, :first].any()
        assert not (with_dr.true_import != no_dr.true_import)[:, last:].any()


def test_new_solar_installs_are_two_periods_and_export_after(province: Path) -> None:
    installs = pl.read_csv(province / "truth" / "solar_installs.csv")
    assert installs.columns == ["meter_id", "installed_on", "kwp"]
    assert installs.height >= 3
    meters = pl.read_csv(province / "landing" / "meters.csv", infer_schema=False)
    moved = set(pl.read_csv(province / "truth" / "injections.csv").filter(
        pl.col("category") == "move")["meter_id"])
    assert not moved & set(installs["meter_id"])
    readings = pl.concat(pl.read_parquet(f)
                         for f in sorted((province / "landing").glob("readings_*")))
    true = true_readings(province)
    for row in installs.iter_rows(named=True):
        on = date.fromisoformat(row["installed_on"])
        assert SPEC.start < on < SPEC.start + timedelta(days=SPEC.days)
        moment = utc_instant(on).strftime("%Y-%m-%dT%H:%M:%SZ")
        periods = meters.filter(pl.col("meter_id") == row["meter_id"]).sort("valid_from")
        assert periods.height == 2
        assert periods["valid_to"][0] == periods["valid_from"][1] == moment
        assert periods["valid_to"][1] is None
        assert periods["solar_kwp"][0] is None
        assert float(periods["solar_kwp"][1]) == row["kwp"]
        assert periods["transformer_id"][0] == periods["transformer_id"][1]
        group = periods["customer_group"][0]
        assert group in ("residential", "public_admin")
        low, high = (3, 10) if group == "residential" else (10, 50)
        assert low <= row["kwp"] <= high
        mine = true.filter(pl.col("meter_id") == row["meter_id"]).with_columns(local_date())
        assert mine.filter(pl.col("date") < on)["true_kwh_export"].sum() == 0
        assert mine.filter(pl.col("date") >= on)["true_kwh_export"].sum() > 0
        delivered = readings.filter(pl.col("meter_id") == row["meter_id"]).with_columns(
            local_date())
        assert delivered.filter(pl.col("date") < on)["kwh_export"].null_count() == \
            delivered.filter(pl.col("date") < on).height
    # no meter has overlapping periods
    spans = meters.with_columns(pl.col("valid_to").fill_null("9999")).sort(
        "meter_id", "valid_from")
    overlapping = spans.with_columns(pl.col("valid_to").shift().over("meter_id").alias("prev"))
    assert overlapping.filter(pl.col("prev").is_not_null()
                              & (pl.col("valid_from") < pl.col("prev"))).height == 0


def test_two_spans_share_one_landing(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    for start in (date(2025, 6, 2), date(2026, 6, 1)):
        spec = ProvinceSpec(meters=60, start=start, days=2, seed=9, file_format="csv")
        generate_province(spec, landing, tmp_path / f"truth-{start.year}")
    names = sorted(f.name for f in landing.iterdir())
    for kind in ("temperature", "dr_events"):
        ours = [n for n in names if n.startswith(f"{kind}_")]
        assert ours == [f"{kind}_2025-06-02.csv", f"{kind}_2026-06-01.csv"]
        assert {kind_of(n) for n in ours} == {kind}
    temperature = pl.read_csv(landing / "temperature_2025-06-02.csv", try_parse_dates=True)
    assert temperature["date"].to_list() == [date(2025, 6, 2), date(2025, 6, 3)]
    spec = ProvinceSpec(meters=60, start=date(2025, 6, 2), days=2, seed=9)
    assert temperature.equals(temperature_frame(spec))
    assert (tmp_path / "truth-2025" / "true_readings_2025-06-02.parquet").exists()


def test_daily_truth_equals_the_written_true_readings(province: Path) -> None:
    written = true_readings(province).with_columns(local_date()).group_by(
        "meter_id", "date").agg(pl.col("true_kwh_import").sum(),
                                pl.col("registered_kwh_import").sum(),
                                pl.col("true_kwh_export").sum())
    daily = daily_truth(SPEC)
    assert daily.columns == ["meter_id", "date", "customer_group", "kwh_import_true",
                             "kwh_import_registered", "kwh_export"]
    assert daily.schema["date"] == pl.Date
    assert daily.height == SPEC.meters * SPEC.days == written.height
    both = daily.join(written, on=["meter_id", "date"])
    assert both.height == daily.height
    for ours, theirs in (("kwh_import_true", "true_kwh_import"),
                         ("kwh_import_registered", "registered_kwh_import"),
                         ("kwh_export", "true_kwh_export")):
        assert (both[ours] - both[theirs]).abs().max() < 1e-6
    groups = pl.read_parquet(province / "truth" / "meters.parquet").select(
        "meter_id", "customer_group")
    assert daily.select("meter_id", "customer_group").unique().sort("meter_id").equals(
        groups.sort("meter_id"))


def test_daily_truth_of_a_year_is_fast() -> None:
    started = datetime.now()
    frame = daily_truth(ProvinceSpec(meters=300, start=date(2025, 6, 1), days=400, seed=3))
    assert frame.height == 300 * 400
    assert datetime.now() - started < timedelta(seconds=20)


@pytest.mark.parametrize("change", [{"office_saving_pct": 60.0}, {"office_saving_pct": -1.0},
                                    {"advertising_share": 1.5}, {"new_solar_share": 0.9}])
def test_bad_savings_specs_are_refused(change: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(change))):
        replace(SPEC, **change).check()
