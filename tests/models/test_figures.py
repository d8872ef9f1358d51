"""The figures of a balance, each defined once (models/figures.py), on tiny named cases."""

from __future__ import annotations

import itertools

import polars as pl
import pytest

from models import figures

#: Four energies whose float sum depends on the order it is added in.
HALF_SUM_KWH = (149_630.96, 19_172.15, 29_865.48, 179_480.26)


def balance(energy_in: float, energy_out: float, measured_kwh: float, *, n: int = 4,
            n_measured: int = 4, n_missing: int = 0, total: bool = True) -> pl.DataFrame:
    return pl.DataFrame({
        "energy_in_kwh": [energy_in], "energy_out_kwh": [energy_out],
        "measured_kwh": [measured_kwh], "n_intervals": [n], "n_measured": [n_measured],
        "n_missing": [n_missing], "has_total_meter": [total]},
        schema_overrides={"n_intervals": pl.Int64, "n_measured": pl.Int64,
                          "n_missing": pl.Int64})


@pytest.mark.parametrize(
    ("frame", "share"),
    [
        pytest.param(balance(100.0, 95.0, 195.0), 1.0, id="all-measured"),
        # one reading in four estimated, but it holds 45 of the 195 kWh: 0.769, not 0.75
        pytest.param(balance(100.0, 95.0, 150.0, n_measured=3), 150 / 195,
                     id="estimated-peak-weighs-its-energy"),
        # a missing reading recorded nothing: unmeasured energy of the mean reading
        pytest.param(balance(100.0, 95.0, 195.0, n_measured=3, n_missing=1), 0.75,
                     id="missing-counts-as-unmeasured"),
        pytest.param(balance(100.0, 95.0, 97.5, n_measured=2, n_missing=1), 0.5 * 0.75,
                     id="estimated-and-missing"),
        pytest.param(balance(0.0, 0.0, 0.0, n_measured=2), 0.5, id="outage-counts-readings"),
        pytest.param(balance(0.0, 0.0, 0.0, n=0, n_measured=0), None, id="no-readings"),
        # in whole micro-kWh: every reading measured is exactly 1, whatever the floats
        pytest.param(balance(0.1 + 0.2, 0.3, 0.6), 1.0, id="exactly-one"),
    ],
)
def test_measured_share_is_the_measured_part_of_the_energy(frame: pl.DataFrame,
                                                           share: float | None) -> None:
    got = frame.select(figures.measured_share())["measured_share"][0]
    assert got == share


@pytest.mark.parametrize(
    ("share", "total", "expected"),
    [
        pytest.param(0.95, True, True, id="at-threshold"),
        pytest.param(0.9499, True, False, id="below"),
        pytest.param(1.0, False, False, id="no-total-meter"),
        pytest.param(None, True, False, id="no-share"),
    ],
)
def test_reliable_needs_a_total_meter_and_the_share(share: float | None, total: bool,
                                                    expected: bool) -> None:
    frame = pl.DataFrame({"measured_share": [share], "has_total_meter": [total]},
                         schema={"measured_share": pl.Float64, "has_total_meter": pl.Boolean})
    assert frame.select(figures.reliable(0.95))["reliable"][0] is expected


@pytest.mark.parametrize(
    ("energy_in", "energy_out", "total", "loss", "pct"),
    [
        pytest.param(100.0, 95.0, True, 5.0, 5.0, id="loss"),
        pytest.param(0.3, 0.1, True, 0.2, pytest.approx(100 * 0.2 / 0.3), id="decimal-exact"),
        pytest.param(0.0, 0.5, True, -0.5, None, id="no-energy-in"),
        pytest.param(100.0, 95.0, False, None, None, id="no-total-meter"),
    ],
)
def test_loss_and_its_rate(energy_in: float, energy_out: float, total: bool,
                           loss: float | None, pct: object) -> None:
    frame = balance(energy_in, energy_out, 0.0, total=total).with_columns(figures.loss_kwh())
    row = frame.with_columns(figures.loss_pct().alias("loss_pct")).row(0, named=True)
    assert row["loss_kwh"] == loss  # 0.2, not the 0.19999999999999998 of 0.3 − 0.1
    assert row["loss_pct"] == pct


def test_energy_sums_do_not_depend_on_the_order() -> None:
    sums = set()
    for order in itertools.permutations(HALF_SUM_KWH):
        frame = pl.DataFrame({"g": ["a"] * 4, "kwh": list(order)})
        sums.add(frame.group_by("g").agg(figures.kwh_sum("kwh"))["kwh"][0])
        sums.add(frame.select(figures.kwh_sum("kwh"))["kwh"][0])
    assert sums == {378_148.85}  # the float nearest the decimal sum, in every order
