"""The whole-history change point: ruptures' l2 single break, one-sided, for every meter."""

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest
import ruptures as rpt

from ami.settings import Settings
from models.anomaly.days import FEATURES, LOG_FLOOR_KWH, day_table
from models.anomaly.history import SCALE_FLOOR, _Spans, _split_t, change_signals

SETTINGS = Settings(timezone="UTC")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_split_is_ruptures_l2_single_break(seed: int) -> None:
    """Two-sided, on standardised features, the best split is ruptures' Binseg l2 break."""
    rng = np.random.default_rng(seed)
    n_days, onset = 120, int(rng.integers(20, 100))
    signal = rng.normal(0.0, 1.0, (n_days, 3))
    signal[onset:] += rng.normal(0.0, 2.0, 3)  # a change of level in every feature
    first, last = np.array([0]), np.array([n_days - 1])
    total = np.zeros(n_days + 1)
    for column in range(3):
        values = signal[:, column][None, :]
        scale = 1.4826 * np.median(np.abs(values - np.median(values)))
        t = _split_t(values / scale, _Spans.of(first, last, n_days), 1e-9)[0]  # the meter's own scale: 1
        total += np.nan_to_num(t) ** 2
    total[:7] = total[n_days - 6:] = -1.0  # seven days on each side
    ours = int(np.argmax(total))
    standardised = signal / (1.4826 * np.median(np.abs(signal - np.median(signal, axis=0)),
                                                axis=0))
    [theirs, _end] = rpt.Binseg(model="l2", min_size=7, jump=1).fit(standardised) \
        .predict(n_bkps=1)
    assert ours == theirs
    assert abs(ours - onset) <= 3


def _days(meters: dict[str, np.ndarray], start: date) -> pl.DataFrame:
    """A day table of ``level`` only (other features flat) per meter, days from ``start``."""
    rows = []
    for meter, level in meters.items():
        for d, value in enumerate(level):
            rows.append({"meter_id": meter, "day": start + timedelta(days=d), "n_valid": 48,
                         "kwh": float(np.exp(value)), "level": float(value),
                         **{name: 0.5 for name in FEATURES if name not in ("level",
                                                                            "level_swing")}})
    return pl.DataFrame(rows)


def test_only_changes_towards_theft_count_and_the_day_is_named() -> None:
    rng = np.random.default_rng(5)
    noise = rng.normal(0.0, 0.1, (4, 90))
    meters = {
        "drop": noise[0] + np.where(np.arange(90) >= 60, -1.0, 0.0),
        "rise": noise[1] + np.where(np.arange(90) >= 60, 1.0, 0.0),   # more use: no theft
        "steady": noise[2],
        "over": noise[3] + np.where((np.arange(90) >= 40) & (np.arange(90) < 50), -1.0, 0.0),
    }
    out = change_signals(_days(meters, date(2026, 1, 1))).sort("meter_id")
    row = {r["meter_id"]: r for r in out.iter_rows(named=True)}
    assert row["drop"]["change_day"] == date(2026, 3, 2)  # day 60
    assert row["drop"]["chg_level"] > 10
    assert row["drop"]["change_stat"] > 5 * row["rise"]["change_stat"]
    assert row["drop"]["change_stat"] > 5 * row["steady"]["change_stat"]
    assert row["drop"]["persistence"] > 0.9
    assert row["over"]["persistence"] < 0.2  # ten days away, then back: it is over
    assert row["drop"]["kwh_day_after"] < 0.5 * row["drop"]["kwh_day_before"]


def test_a_meter_whose_feature_never_moved_needs_a_real_change() -> None:
    """A few zero hours on a meter that never had any are not a huge t (SCALE_FLOOR)."""
    values = np.zeros((1, 60))
    values[0, 55] = 0.02  # one interval of 48 at zero on one day
    t = _split_t(values, _Spans.of(np.array([0]), np.array([59]), 60), SCALE_FLOOR["zero_share"])
    assert np.nanmax(np.abs(t[0, 7:54])) < 1.0


def _readings(days: int, *, flat_from: int | None = None) -> pl.DataFrame:
    """Two meters of 30-minute readings: one ordinary, one flattened from a day on."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    hours = (np.arange(48) + 0.5) / 2
    profile = 0.1 + 0.5 * np.exp(-((hours - 19) ** 2) / 4)
    rng = np.random.default_rng(1)
    rows = []
    for meter in ("A", "B"):
        for d in range(days):
            values = profile * rng.lognormal(0.0, 0.2, 48)
            if meter == "B" and flat_from is not None and d >= flat_from:
                values = np.full(48, values.mean())
            for k in range(48):
                rows.append({"meter_id": meter, "kwh_import": round(float(values[k]), 3),
                             "interval_end": start + timedelta(days=d, minutes=30 * (k + 1)),
                             "interval_minutes": 30})
    return pl.DataFrame(rows)


def test_day_features_see_a_flattened_day() -> None:
    table = day_table(_readings(4, flat_from=2).lazy(), settings=SETTINGS,
                      first_day=date(2026, 1, 1), end_day=date(2026, 1, 4))
    flat = table.filter((pl.col("meter_id") == "B") & (pl.col("day") == date(2026, 1, 3)))
    normal = table.filter((pl.col("meter_id") == "A") & (pl.col("day") == date(2026, 1, 3)))
    assert flat["repeat_share"].item() == 1.0
    assert normal["repeat_share"].item() < 0.5
    assert flat["peer_shape"].item() == 0.0  # no shape at all
    assert normal["peer_shape"].item() > 0.9
    assert table.height == 2 * 4


def test_expected_energy_follows_the_peers_season() -> None:
    """A bypass in spring: what it would record now is its place among peers, not winter's."""
    n_days, onset = 120, 60
    peer_kwh = np.where(np.arange(n_days) < onset, 10.0, 5.0)  # the peers halve in spring
    meters = {f"peer{i}": peer_kwh for i in range(3)}
    meters["thief"] = np.where(np.arange(n_days) < onset, 20.0, 0.0)  # twice the peers, then 0
    logs = {m: np.log(k + LOG_FLOOR_KWH) for m, k in meters.items()}
    median = np.median(np.vstack(list(logs.values())), axis=0)
    rows = [{"meter_id": m, "day": date(2026, 1, 1) + timedelta(days=d), "n_valid": 48,
             "kwh": float(meters[m][d]), "level": float(logs[m][d] - median[d]),
             **{name: 0.5 for name in FEATURES if name not in ("level", "level_swing")}}
            for m in meters for d in range(n_days)]
    row = change_signals(pl.DataFrame(rows)).filter(pl.col("meter_id") == "thief").row(
        0, named=True)
    assert row["change_day"] == date(2026, 3, 2)
    assert row["kwh_day_before"] == pytest.approx(20.0)
    assert row["kwh_day_after"] == pytest.approx(0.0)
    # twice the peers' 5 kWh (the floor of the logs aside), not the 20 of winter
    assert row["kwh_day_expected"] == pytest.approx(10.0, rel=0.02)
