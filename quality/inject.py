"""The generator's meter-fault mix injected into real readings, for ``ami vee evaluate``.

A real readings file (``quality.real_readings``) becomes a landing zone and a truth
folder as the synthetic province writes them: the generator's own code
(``ami.province``) plans, applies and renders the faults, so VEE meets them as a
head-end would deliver them and ``quality.evaluate.score`` reads the truth unchanged.
A real gap stays a gap and is truth for ``missing_interval``; a real zero run is truth
for ``zero_run``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from ami.errors import ConfigError
from ami.province import (
    advance_registers,
    apply_faults,
    day_ends,
    delivered_readings,
    events_frame,
    fault_events,
    fault_injections,
    fault_marks,
    fault_truth,
    labels_frame,
    never_reporting,
    plan_faults,
    registers_frame,
    write_fault_truth,
    write_frame,
    write_injections,
    write_true_readings,
)
from ami.settings import Settings
from ami.vocabulary import CustomerGroup, MeterRole
from quality.days import day_bounds
from quality.grid import runs
from quality.real_readings import DataWindow, first_bad, read_real_window

#: The cadence real readings must have for the fault injection (the generator's) [min].
INJECTION_MINUTES = 30
#: Real readings have no topology: one made-up transformer per this many meters [-].
METERS_PER_TRANSFORMER = 25


def _check_injectable(rows: pl.DataFrame, path: Path) -> None:
    """Refuse what a meters × intervals matrix cannot hold: off-grid, duplicate, negative."""
    fix = "clean the file first, or measure it as delivered with --clean"
    epoch_minutes = pl.col("interval_end").dt.epoch("s") // 60
    first_bad(rows, epoch_minutes % INJECTION_MINUTES != 0, "interval_end",
              f"interval_end is off the {INJECTION_MINUTES}-minute grid", path=path, fix=fix)
    first_bad(rows, pl.struct("meter_id", "interval_end").is_duplicated(), "interval_end",
              "the same meter and interval appear twice", path=path, fix=fix)
    first_bad(rows, pl.col("kwh_import") < 0, "kwh_import", "kwh_import is negative",
              path=path, fix=fix)


def _true_matrix(rows: pl.DataFrame, meters: list[str], start: datetime, slots: int
                 ) -> np.ndarray:
    """Meters × intervals of real energy [kWh] from ``start`` on; NaN where the file has none."""
    index = pl.DataFrame({"meter_id": meters, "_i": np.arange(len(meters))})
    cells = rows.filter(pl.col("kwh_import").is_not_null()).join(index, on="meter_id").select(
        "_i", ((pl.col("interval_end") - start).dt.total_minutes() // INJECTION_MINUTES - 1)
        .alias("_k"), "kwh_import")
    true = np.full((len(meters), slots), np.nan)
    true[cells["_i"].to_numpy(), cells["_k"].to_numpy()] = cells["kwh_import"].to_numpy()
    return true


def _register_stand_in(true: np.ndarray) -> np.ndarray:
    """What the register counted [kWh]: the real value, or a stand-in for a real gap.

    The energy of a real gap is unknown; the register is assumed to have counted the
    straight line between the meter's neighbouring real values (flat at the window's ends).
    """
    n, slots = true.shape
    long = pl.DataFrame({"m": np.repeat(np.arange(n), slots), "v": true.ravel()}).select(
        pl.col("v").fill_nan(None).interpolate().forward_fill().backward_fill().over("m")
        .fill_null(0.0).round(3))
    return long["v"].to_numpy().reshape(n, slots)


def _real_meters_table(meters: list[str], since: datetime) -> pl.DataFrame:
    """Every meter a residential customer, ~25 a transformer; no capacity, solar or totals."""
    n = len(meters)
    n_tx = max(1, round(n / METERS_PER_TRANSFORMER))
    tx = np.arange(n) * n_tx // n
    return pl.DataFrame({
        "meter_id": meters, "customer_id": meters, "meter_role": MeterRole.CUSTOMER.value,
        "customer_group": CustomerGroup.RESIDENTIAL.value,
        "transformer_id": [f"RD-T{t + 1}" for t in tx], "feeder_id": "RD-F1",
        "branch_id": "RD", "dr_participant": False,
        "valid_from": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
    })


def inject_real_readings(path: Path, landing: Path, truth: Path, *, days: int | None = None,
                         seed: int = 7, fault_share: float = 0.2,
                         settings: Settings) -> DataWindow:
    """Write a landing zone and truth from real readings with the generator's fault mix.

    Every local day of the window becomes a meters × 30-minute matrix of real energy (NaN
    = a real gap, which stays a gap); ``fault_share`` of the meters get the generator's
    faults (:func:`ami.province.plan_faults`), applied and rendered per day by the
    generator's code: readings as delivered, register reads at local midnight (what the
    register counted, with the generator's register semantics; a real gap counts its
    stand-in, see :func:`_register_stand_in`), clock-adjust events. The truth folder holds
    what :func:`quality.evaluate.score` reads; real gaps are ``fault_cells`` of kind ``real_gap``.
    """
    if not 0 <= fault_share <= 1:
        raise ConfigError(f"fault share must be between 0 and 1, got {fault_share}",
                          fix="give --fault-share as a share, e.g. 0.2")
    _, rows, window = read_real_window(Path(path), days=days, settings=settings,
                                       required_minutes=INJECTION_MINUTES)
    _check_injectable(rows, Path(path))
    tz = settings.tz
    meters = sorted(rows["meter_id"].unique().to_list())
    meter_ids = np.array(meters)
    n = len(meters)
    local_days = [window.first_day + timedelta(days=d) for d in range(window.days)]
    ends = [day_ends(day, INJECTION_MINUTES, tz) for day in local_days]
    start = day_bounds(window.first_day.isoformat(), settings)[0]
    true = _true_matrix(rows, meters, start, sum(map(len, ends)))
    counted = _register_stand_in(true)
    rng = np.random.default_rng([seed, 0])
    plan = plan_faults(rng.permutation(n)[: round(fault_share * n)].tolist(), window.days, rng)
    silent = never_reporting(meter_ids, plan)
    registers = np.round(np.random.default_rng([seed, 2]).uniform(1000, 50000, n), 3)
    no_export = np.full(n, np.nan)
    cells: list[tuple[str, datetime, str]] = []
    meter_days: list[tuple[str, date, str]] = []
    zero_runs: list[dict[str, object]] = []
    need = max(1, settings.zero_run_minutes // INJECTION_MINUTES)
    first_slot = 0
    for d, (day, day_end_list) in enumerate(zip(local_days, ends, strict=True)):
        columns = slice(first_slot, first_slot + len(day_end_list))
        first_slot += len(day_end_list)
        real, gap = true[:, columns], np.isnan(true[:, columns])
        faults = apply_faults(plan, d, counted[:, columns].copy(), present=~gap)
        name = f"{day.isoformat()}.csv"
        write_frame(delivered_readings(meter_ids, faults, ends=day_end_list,
                                       export=np.full(real.shape, np.nan)),
                    landing / f"readings_{name}", "csv")
        registers = advance_registers(registers, faults)
        write_frame(registers_frame(meter_ids, day, imports=registers, exports=no_export,
                                    silent=silent, tz=tz), landing / f"registers_{name}", "csv")
        write_frame(events_frame(fault_events(meter_ids, plan, d, day, tz)),
                    landing / f"events_{name}", "csv")
        day_cells, day_meter_days = fault_truth(meter_ids, faults, day, day_end_list)
        cells += day_cells + [(meter_ids[i], day_end_list[k], "real_gap")
                              for i, k in zip(*np.nonzero(gap), strict=True)]
        meter_days += day_meter_days
        # real zeros for hours (an empty home, supply off) are what zero_run reports
        rows_z, first_z, length_z = runs(np.nan_to_num(real, nan=1.0) == 0)
        zero_runs += [{"meter_id": meter_ids[i], "category": "real_zero_run",
                       "kind": "real_zero_run", "onset": day_end_list[f].isoformat(),
                       "end": day_end_list[f + n_z - 1].isoformat(), "params": "{}"}
                      for i, f, n_z in zip(rows_z, first_z, length_z, strict=True)
                      if n_z >= need]
        write_true_readings(meter_ids, day_end_list, true_import=real,
                            true_export=np.zeros(real.shape), registered=real,
                            target=truth / f"true_readings_{day.isoformat()}.parquet",
                            keep=~gap)
    write_frame(_real_meters_table(meters, start), landing / "meters.csv", "csv")
    write_injections(truth, fault_injections(meter_ids, plan, window.first_day, tz)
                     + zero_runs)
    write_frame(labels_frame(meter_ids, customer_group=[CustomerGroup.RESIDENTIAL.value] * n,
                             transformer_id=_real_meters_table(meters, start)["transformer_id"]
                             .to_numpy(), solar=np.zeros(n, dtype=bool),
                             marks=fault_marks(plan)), truth / "meters.parquet", "parquet")
    write_fault_truth(truth, cells, meter_days)
    return window
