"""The evaluation on real readings: attacks land where the truth says, the table is complete.

Runs on a slice of the real London households (tests/data/realdata): 40 meters, the last
200 days of 2013 (the autumn clock change included); the floors of the project's scorer
run on all 87 households over the year, at seeds the README's table does not use.
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from ami.cli import main
from ami.errors import InputError
from ami.settings import Settings
from models.anomaly.attacks import ATTACKS
from models.anomaly.baselines import (
    FEATURES,
    drop_ratio,
    recent_history_features,
    reference_iforest,
)
from models.anomaly.evaluate import ONSET_BUCKETS, onset_bucket
from models.anomaly.evaluate_real import (
    SCORERS,
    Injected,
    RealEvaluation,
    RealSpec,
    evaluate_real,
    inject_attacks,
    read_readings,
)
from models.anomaly.jobs import score_files
from models.anomaly.scorer import score_meters
from tests.realdata import real_readings, write_form

ZONE = "Europe/London"
SETTINGS = Settings().model_copy(update={"timezone": ZONE})
SPEC = RealSpec(seeds=(1, 2), onset_days=(7, 190))


@pytest.fixture(scope="module")
def slice_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 real meters, 2013-06-15 … 2013-12-31, as the canonical text of the source."""
    raw = real_readings(first=datetime(2013, 6, 14, 23, 30, tzinfo=UTC), days=201)
    meters = sorted(raw["meter_id"].unique().to_list())[:40]
    part = raw.filter(pl.col("meter_id").is_in(meters))
    path = tmp_path_factory.mktemp("real") / "households_slice.csv.gz"
    with gzip.open(path, "wb") as handle:
        part.write_csv(handle)
    return path


@pytest.fixture(scope="module")
def readings(slice_file: Path) -> pl.DataFrame:
    return read_readings(slice_file, settings=SETTINGS)


@pytest.fixture(scope="module")
def injected(readings: pl.DataFrame) -> Injected:
    return inject_attacks(readings, seed=1, theft_share=0.2, onset_days=SPEC.onset_days,
                          timezone=ZONE)


@pytest.fixture(scope="module")
def evaluation(readings: pl.DataFrame) -> RealEvaluation:
    return evaluate_real(readings, SPEC, settings=SETTINGS)


def _thieves(injected: Injected, kind: str) -> pl.DataFrame:
    return injected.truth.filter(pl.col("kind") == kind)


def _rows(frame: pl.DataFrame, meter_id: str) -> pl.DataFrame:
    return frame.filter(pl.col("meter_id") == meter_id).sort("interval_end")


def test_slice_is_real_half_hours(readings: pl.DataFrame) -> None:
    assert readings["meter_id"].n_unique() == 40
    assert readings["interval_minutes"].unique().to_list() == [30]
    assert readings["interval_end"].dtype == pl.Datetime("us", "UTC")


def test_truth_cycles_the_attacks_over_a_fifth(injected: Injected) -> None:
    thieves = injected.truth.filter(pl.col("category") == "attack")
    assert thieves.height == 8
    assert set(thieves["kind"]) == set(ATTACKS)
    assert injected.truth.filter(pl.col("category") == "clean")["onset"].null_count() == 32
    days = thieves["onset_days"]
    assert days.min() >= 7  # type: ignore[operator]
    assert days.max() <= 190  # type: ignore[operator]
    assert thieves["onset_bucket"].to_list() == [onset_bucket(d) for d in days]


def test_untouched_meters_are_delivered_as_read(readings: pl.DataFrame,
                                                injected: Injected) -> None:
    clean = injected.truth.filter(pl.col("category") == "clean")["meter_id"]
    assert_frame_equal(injected.readings.filter(pl.col("meter_id").is_in(clean)),
                       readings.filter(pl.col("meter_id").is_in(clean)))


def test_thieves_are_untouched_before_their_onset(readings: pl.DataFrame,
                                                  injected: Injected) -> None:
    for row in injected.truth.filter(pl.col("category") == "attack").iter_rows(named=True):
        before = pl.col("interval_end") <= row["onset"]
        original = _rows(readings, row["meter_id"])
        attacked = _rows(injected.readings, row["meter_id"])
        assert_frame_equal(attacked.filter(before), original.filter(before))
        after_original = original.filter(~before)["kwh_import"]
        after_attacked = attacked.filter(~before)["kwh_import"]
        assert after_attacked.len() > 0
        if after_attacked.len() == after_original.len():
            assert (after_attacked != after_original).any(), row["kind"]


def test_bypass_registers_zero_from_the_onset(readings: pl.DataFrame,
                                              injected: Injected) -> None:
    for row in _thieves(injected, "bypass").iter_rows(named=True):
        after = pl.col("interval_end") > row["onset"]
        attacked = _rows(injected.readings, row["meter_id"]).filter(after)
        original = _rows(readings, row["meter_id"]).filter(after)
        assert attacked.height == original.height > 0  # same rows, a gap stays a gap
        assert (attacked["kwh_import"] == 0).all()
        assert original["kwh_import"].sum() > 0


def test_an_old_bypass_is_no_street_light(readings: pl.DataFrame) -> None:
    """Zeros for longer than the window, a few night readings left: a theft, not a lamp.

    The window's history then holds almost no energy, all of it at night — which once
    made the meter "a night-only load" whose changes weigh a tenth (rank 27 of 87).
    """
    meter = "MAC000002"
    end = readings["interval_end"].max()
    onset = end - timedelta(days=104)  # type: ignore[operator]
    night = pl.col("interval_end").dt.hour().is_in([1, 2]) \
        & (pl.col("interval_end").dt.date() == (onset + timedelta(days=3)).date())
    bypassed = readings.with_columns(kwh_import=pl.when(
        (pl.col("meter_id") == meter) & (pl.col("interval_end") > onset) & ~night)
        .then(0.0).otherwise(pl.col("kwh_import")))
    scored = score_meters(bypassed.lazy(), None, None, settings=SETTINGS)
    row = scored.filter(pl.col("meter_id") == meter).row(0, named=True)
    assert row["rank"] == 1
    assert row["reason_codes"][0] == "CHANGE"
    # the energy it no longer records, at its place among its peers before
    before = readings.filter((pl.col("meter_id") == meter) & (pl.col("interval_end") <= onset)
                             )["kwh_import"].mean() * 48 * 30  # type: ignore[operator]
    assert 0.3 * before < row["est_unbilled_kwh_month"] < 2.0 * before


def test_h6_days_are_reversed(readings: pl.DataFrame, injected: Injected) -> None:
    checked = 0
    for row in _thieves(injected, "h6").iter_rows(named=True):
        original = _rows(readings, row["meter_id"])
        attacked = _rows(injected.readings, row["meter_id"])
        for day in range(row["onset_days"]):
            # A day of the zone's standard time: onsets are its midnights.
            first = row["onset"] + timedelta(days=day)
            inside = pl.col("interval_end").is_between(first, first + timedelta(days=1),
                                                       closed="right")
            truth = original.filter(inside)["kwh_import"].to_numpy()
            if truth.size != 48:
                continue
            # Attacked values are registered to the Wh (the source holds a few float32
            # artefacts such as 1.0779999).
            assert np.array_equal(attacked.filter(inside)["kwh_import"].to_numpy(),
                                  np.round(truth[::-1], 3))
            checked += 1
    assert checked >= 5


def test_onset_never_before_the_second_day(readings: pl.DataFrame) -> None:
    late = inject_attacks(readings, seed=3, theft_share=0.2, onset_days=(250, 300),
                          timezone=ZONE)
    thieves = late.truth.filter(pl.col("category") == "attack")
    # 250–300 days before the end of 200 days: clamped to the second day. The slice's
    # first half hour (2013-06-14 23:30 UTC) is its first day, alone.
    first_end = readings["interval_end"].min()
    assert thieves["onset"].unique().to_list() == [first_end]
    assert (thieves["onset_days"] == 200).all()


def test_other_zones_move_the_attack_days(readings: pl.DataFrame) -> None:
    vietnam = inject_attacks(readings, seed=1, theft_share=0.2, onset_days=SPEC.onset_days,
                             timezone="Asia/Ho_Chi_Minh")
    onsets = vietnam.truth["onset"].drop_nulls()
    # Midnight at UTC+7 is 17:00 UTC the day before.
    assert set(onsets.dt.hour().to_list()) == {17}


def _regular(minutes: int, meters: int = 10, days: int = 40) -> pl.DataFrame:
    per_day = 1440 // minutes
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rng = np.random.default_rng(0)
    return pl.DataFrame({
        "meter_id": np.repeat([f"M{i:02d}" for i in range(meters)], days * per_day),
        "interval_end": [start + timedelta(minutes=minutes * (k + 1))
                         for k in range(days * per_day)] * meters,
        "interval_minutes": minutes,
        "kwh_import": np.round(rng.gamma(2.0, 0.05, meters * days * per_day), 3),
    })


def test_fifteen_minute_readings_are_attacked_by_the_same_code() -> None:
    frame = _regular(15)
    data = inject_attacks(frame, seed=1, theft_share=0.7, onset_days=(5, 20), timezone="UTC")
    bypass = _thieves(data, "bypass").row(0, named=True)
    after = data.readings.filter(pl.col("meter_id") == bypass["meter_id"],
                                 pl.col("interval_end") > bypass["onset"])
    assert after.height == bypass["onset_days"] * 96
    assert (after["kwh_import"] == 0).all()


@pytest.mark.parametrize(("frame", "message"), [
    pytest.param(_regular(1440, days=60), "1440-minute readings", id="daily"),
    pytest.param(pl.concat([_regular(30, meters=2), _regular(60, meters=2)
                            .with_columns(meter_id=pl.col("meter_id") + "b")]),
                 "several interval lengths", id="mixed"),
    pytest.param(_regular(30, meters=3).with_columns(
        interval_end=pl.when(pl.int_range(pl.len()) == 7)
        .then(pl.col("interval_end") + timedelta(minutes=10)).otherwise(pl.col("interval_end"))),
        "not on the 30-minute grid", id="off-grid"),
    pytest.param(pl.concat([_regular(30, meters=3), _regular(30, meters=3).head(1)]),
                 "two readings ending", id="duplicate"),
])
def test_readings_the_attacks_cannot_use_are_refused(frame: pl.DataFrame, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        inject_attacks(frame, seed=1, theft_share=0.5, onset_days=(2, 10), timezone="UTC",
                       source="vendor.csv")
    assert "vendor.csv" in str(caught.value)


def test_table_has_every_attack_and_onset_row(evaluation: RealEvaluation,
                                              readings: pl.DataFrame) -> None:
    metrics = evaluation.metrics
    assert set(metrics["seed"]) == {"1", "2", "mean", "min"}
    expected = {("all", "all"), *((a, "all") for a in ATTACKS),
                *(("all", b) for b, _, _ in ONSET_BUCKETS)}
    for seed in SPEC.seeds:
        truth = inject_attacks(readings, seed=seed, theft_share=SPEC.theft_share,
                               onset_days=SPEC.onset_days, timezone=ZONE).truth
        thieves = truth.filter(pl.col("category") == "attack")
        for scorer in SCORERS:
            rows = metrics.filter(pl.col("seed") == str(seed), pl.col("scorer") == scorer,
                                  pl.col("mode") == "unsupervised")
            assert set(zip(rows["attack"], rows["onset"], strict=True)) == expected
            for row in rows.iter_rows(named=True):
                want = thieves.filter(
                    (pl.col("kind") == row["attack"]) if row["attack"] != "all" else
                    (pl.col("onset_bucket") == row["onset"]) if row["onset"] != "all" else
                    pl.lit(True)).height
                assert (row["thieves"], row["negatives"]) == (want, 32), row
                assert (row["roc_auc"] is None) == (want == 0)
        held_out = metrics.filter(pl.col("seed") == str(seed), pl.col("mode") == "half_labels")
        assert set(held_out["scorer"]) == {"ami"}
        assert set(zip(held_out["attack"], held_out["onset"], strict=True)) == expected
        overall = held_out.filter(pl.col("attack") == "all", pl.col("onset") == "all")
        assert held_out.filter(pl.col("onset") == "all", pl.col("attack") != "all")[
            "thieves"].sum() == overall["thieves"].item()
        assert held_out.filter(pl.col("onset") != "all")["thieves"].sum() \
            == overall["thieves"].item()
        assert overall["negatives"].item() == 16


def test_mean_and_min_summarise_the_seeds(evaluation: RealEvaluation) -> None:
    keys = ["scorer", "mode", "attack", "onset"]
    seeds = evaluation.metrics.filter(pl.col("seed").is_in(["1", "2"]))
    for how in ("mean", "min"):
        expected = seeds.group_by(keys).agg(
            pl.col("thieves").sum(), getattr(pl.col("roc_auc"), how)(),
            pl.col("roc_auc").is_not_null().sum().cast(pl.Int64).alias("seeds"))
        got = evaluation.metrics.filter(pl.col("seed") == how).select(
            *keys, "thieves", "roc_auc", "seeds")
        assert_frame_equal(got.sort(keys), expected.select(got.columns).sort(keys))


def test_baselines_score_every_meter(injected: Injected) -> None:
    lazy = injected.readings.lazy()
    meters = sorted(injected.truth["meter_id"])
    for scored in (drop_ratio(lazy), reference_iforest(lazy, settings=SETTINGS, seed=1)):
        assert scored["meter_id"].to_list() == meters
        assert scored["score"].is_finite().all()
        assert scored["score"].n_unique() > 30
    features = recent_history_features(lazy, settings=SETTINGS)
    assert features.select(FEATURES).null_count().sum_horizontal().item() == 0


def test_drop_ratio_is_one_line_on_a_known_meter() -> None:
    end = datetime(2026, 7, 1, tzinfo=UTC)
    ends = [end - timedelta(days=d) for d in range(210)]
    frame = pl.DataFrame({"meter_id": ["A"] * 210, "interval_end": ends,
                          "interval_minutes": 1440,
                          "kwh_import": [2.0 if d < 30 else 8.0 for d in range(210)]})
    assert drop_ratio(frame)["score"].item() == pytest.approx(0.75)


def test_drop_ratio_finds_bypass(evaluation: RealEvaluation) -> None:
    rows = evaluation.metrics.filter(pl.col("scorer") == "drop_ratio",
                                     pl.col("attack") == "bypass",
                                     pl.col("seed").is_in(["1", "2"]))
    assert rows["thieves"].min() >= 1  # type: ignore[operator]
    assert (rows["roc_auc"] > 0.9).all()


def test_cli_runs_on_real_readings(slice_file: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "evaluation.csv"
    code = main(["anomalies", "evaluate", "--readings", str(slice_file), "--seed", "4",
                 "--onset-max", "190", "--timezone", ZONE, "--no-half-labels",
                 "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "real readings: households_slice.csv.gz, 40 meters, 200 days, 1 seed, zone " \
        "Europe/London" in " ".join(printed.split())
    table = pl.read_csv(out)
    assert table["seed"].unique(maintain_order=True).to_list() == ["mean", "min", "4"]
    assert set(table["mode"]) == {"unsupervised"}
    assert set(table["scorer"]) == set(SCORERS)


def test_score_reads_the_days_of_the_given_zone(slice_file: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """``ami anomalies score --timezone``: London days, as the API gives with London settings."""
    out = tmp_path / "london.csv"
    assert main(["anomalies", "score", "--readings", str(slice_file), "--out", str(out),
                 "--timezone", ZONE]) == 0
    london = pl.read_csv(out)
    expected = score_files(slice_file, None, None, settings=SETTINGS)
    assert london.height == expected.height == 40
    assert london["meter_id"].to_list() == expected["meter_id"].to_list()
    assert london["score"].to_list() == pytest.approx(expected["score"].to_list(), abs=1e-6)
    # Read as Vietnamese days (7 h ahead), every London evening is split in two: the
    # features, and so the scores, differ.
    assert main(["anomalies", "score", "--readings", str(slice_file), "--out",
                 str(tmp_path / "vn.csv")]) == 0
    vietnam = pl.read_csv(tmp_path / "vn.csv").select("meter_id", vn="score")
    both = london.join(vietnam, on="meter_id")
    assert (both["score"] - both["vn"]).abs().max() > 1e-3
    capsys.readouterr()
    assert main(["anomalies", "score", "--readings", str(slice_file), "--out",
                 str(tmp_path / "x.csv"), "--timezone", "Europe/Lndon"]) != 0
    printed = " ".join(capsys.readouterr().err.split())
    assert "unknown time zone 'Europe/Lndon'" in printed and "IANA" in printed
    assert not (tmp_path / "x.csv").exists()


def test_a_vendor_export_is_read_as_the_canonical_file(slice_file: Path, tmp_path: Path,
                                                       readings: pl.DataFrame) -> None:
    text = pl.read_csv(slice_file, infer_schema=False).filter(
        pl.col("meter_id").is_in(["MAC000002", "MAC000003"]))
    vendor = read_readings(write_form(text, "vendor", tmp_path / "readings_hes.csv"),
                           settings=SETTINGS)
    expected = readings.filter(pl.col("meter_id").is_in(["MAC000002", "MAC000003"]))
    assert expected.height > 2 * 9000
    assert_frame_equal(vendor.select(expected.columns).sort("meter_id", "interval_end"),
                       expected.sort("meter_id", "interval_end"), check_dtypes=False)


# --- the floors on real households (README "Evaluation"; seeds other than the README's) ---

FLOOR_SPEC = RealSpec(seeds=(11, 12), onset_days=(7, 300))


@pytest.fixture(scope="module")
def year() -> RealEvaluation:
    """All 87 households, the whole of 2013, two seeds the README's table does not use."""
    readings = read_readings(Path(__file__).parents[1] / "data" / "realdata"
                             / "households.parquet", settings=SETTINGS)
    return evaluate_real(readings, FLOOR_SPEC, settings=SETTINGS)


def _mean(evaluation: RealEvaluation, scorer: str, attack: str = "all",
          mode: str = "unsupervised") -> dict[str, float]:
    row = evaluation.metrics.filter(
        (pl.col("seed") == "mean") & (pl.col("scorer") == scorer)
        & (pl.col("mode") == mode) & (pl.col("attack") == attack)
        & (pl.col("onset") == "all")).row(0, named=True)
    return {k: float(row[k]) for k in ("roc_auc", "average_precision", "precision_at_k")}


def test_real_households_hold_the_floors(year: RealEvaluation) -> None:
    ours = _mean(year, "ami")
    assert ours["roc_auc"] >= 0.92
    assert ours["precision_at_k"] >= 0.65
    for baseline in ("drop_ratio", "reference_iforest"):
        assert ours["roc_auc"] >= _mean(year, baseline)["roc_auc"] + 0.2
    assert _mean(year, "ami", "bypass")["roc_auc"] == 1.0
    for attack in ATTACKS:
        assert _mean(year, "ami", attack)["roc_auc"] >= 0.8, attack


def test_labels_keep_the_floors(year: RealEvaluation) -> None:
    """Half the outcomes known: the other half ranks as well, a bypass still first."""
    assert _mean(year, "ami", mode="half_labels")["roc_auc"] >= 0.92
    assert _mean(year, "ami", "bypass", mode="half_labels")["roc_auc"] == 1.0
