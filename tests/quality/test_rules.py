"""Small cases of the VEE rules and the vectorised helpers behind them."""

import warnings
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from ami.settings import Settings
from quality.grid import MEASURED, Block, run_lengths, runs
from quality.rules import multiplier_jumps, row_quantiles, spikes


@pytest.mark.parametrize("q", [0.0, 0.5, 0.9, 1.0])
def test_row_quantiles_equal_numpy_nanpercentile(q: float) -> None:
    rng = np.random.default_rng(3)
    values = rng.lognormal(size=(200, 48))
    values[rng.random(values.shape) < 0.25] = np.nan
    values[7] = np.nan  # a meter without any value reads 0
    (ours,) = row_quantiles(values, (q,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.nan_to_num(np.nanpercentile(values, 100 * q, axis=1))
    np.testing.assert_allclose(ours, expected, rtol=1e-12)


def test_runs_and_their_lengths() -> None:
    mask = np.array([[0, 1, 1, 0, 1], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]], dtype=bool)
    rows, first, length = runs(mask)
    assert list(zip(rows, first, length, strict=True)) == [(0, 1, 2), (0, 4, 1), (1, 0, 5)]
    assert run_lengths(mask).tolist() == [[0, 2, 2, 0, 1], [5] * 5, [0] * 5]


# --- spikes and high values: the register decides ----------------------------------------

#: A household's half hours: a low night, a cooking peak of 1.438 kWh at 18:00 (real data).
DAY = np.array([0.15] * 36 + [1.438] + [0.3] * 11)


def block_of(rows: list[np.ndarray]) -> Block:
    values = np.array(rows, dtype=np.float64)
    return Block(meter_ids=pl.Series([f"M{i}" for i in range(len(rows))]), minutes=30,
                 start=datetime(2026, 9, 30, 17, tzinfo=UTC), kwh_import=values,
                 kwh_export=np.full(values.shape, np.nan),
                 quality=np.full(values.shape, MEASURED, dtype=np.int8),
                 rule=np.zeros(values.shape, dtype=np.int16))


@pytest.mark.parametrize(("register", "record", "rejected", "flagged"), [
    pytest.param(np.nan, np.nan, 0, 1, id="no-register-no-history-flagged"),
    pytest.param(np.nan, 1.5, 0, 0, id="no-register-below-its-record-nothing"),
    pytest.param(float(DAY.sum()), np.nan, 0, 0, id="register-vouches-nothing"),
    pytest.param(float(DAY.sum()) - 1.3, np.nan, 1, 0, id="register-contradicts-rejected"),
])
def test_a_cooking_peak_is_rejected_only_when_the_register_contradicts_it(
        register: float, record: float, rejected: int, flagged: int) -> None:
    spike, high = spikes(block_of([DAY]), np.array([register]), np.array([record]),
                         settings=Settings())
    assert (int(spike.sum()), int(high.sum())) == (rejected, flagged)
    if rejected:
        assert spike[0, 36]


def test_the_register_names_how_many_outliers_are_spikes() -> None:
    day = DAY.copy()
    day[10], day[40] = 6.0, 2.5  # two outliers; only 6.0 kWh is more than the register
    register = float(day.sum()) - 6.0
    spike, _ = spikes(block_of([day]), np.array([register]), np.array([np.nan]),
                      settings=Settings())
    assert np.flatnonzero(spike[0]).tolist() == [10]
    # a busy evening (high 90th percentile) does not hide a spike the register exposes
    busy = day.copy()
    busy[30:40] = 0.7
    spike, _ = spikes(block_of([busy]), np.array([float(busy.sum()) - 8.5]),
                      np.array([np.nan]), settings=Settings())
    assert np.flatnonzero(spike[0]).tolist() == [10, 40]


def _days(level: float, base: float, n: int = 10) -> pl.DataFrame:
    return pl.DataFrame({"meter_id": ["M"] * n, "kwh_per_interval": [level] * n,
                         "kwh_p25": [base] * n})


@pytest.mark.parametrize(("level", "base", "flagged"), [
    pytest.param(0.60, 0.24, True, id="x3-everything-a-multiplier"),
    pytest.param(0.60, 0.09, False, id="x3-evening-only-behaviour"),
    pytest.param(0.25, 0.10, False, id="x1.25-nothing"),
])
def test_a_multiplier_scales_the_base_load_too(level: float, base: float,
                                               flagged: bool) -> None:
    history = _days(0.2, 0.08).with_columns(  # a little day-to-day spread
        pl.Series("kwh_per_interval", [0.2, 0.21, 0.19, 0.2, 0.22, 0.18, 0.2, 0.2, 0.21, 0.19]))
    today = pl.DataFrame({"meter_id": ["M"], "kwh_per_interval": [level], "kwh_p25": [base],
                          "first_interval_end": [datetime(2026, 10, 1, tzinfo=UTC)],
                          "last_interval_end": [datetime(2026, 10, 2, tzinfo=UTC)],
                          "n_intervals": [48]})
    found = multiplier_jumps(today, history, settings=Settings())
    assert found.height == int(flagged)


def test_a_jump_within_the_meters_own_swings_is_not_a_multiplier() -> None:
    swinging = pl.DataFrame({"meter_id": ["M"] * 10, "kwh_p25": [0.08] * 10,
                             "kwh_per_interval": [0.1, 0.4, 0.15, 0.3, 0.1, 0.35, 0.12, 0.2,
                                                  0.4, 0.1]})
    today = pl.DataFrame({"meter_id": ["M"], "kwh_per_interval": [0.6], "kwh_p25": [0.24],
                          "first_interval_end": [datetime(2026, 10, 1, tzinfo=UTC)],
                          "last_interval_end": [datetime(2026, 10, 2, tzinfo=UTC)],
                          "n_intervals": [48]})
    assert multiplier_jumps(today, swinging, settings=Settings()).height == 0
