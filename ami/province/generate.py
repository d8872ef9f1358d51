"""Generate a synthetic province: grid, customers, 30-minute load, theft, faults, truth.

Day by day and vectorised over meters (numpy), so a 300,000-meter province streams to
disk one day at a time. Every energy is rounded to the meter resolution (0.001 kWh)
before any sum, so that balances are exact in decimal: per transformer and interval,
``total_import − total_export + Σ export − Σ true import == technical`` by construction.

The landing zone gets what a head-end would deliver (README: data contract); the truth folder,
which the pipeline never reads, says what was injected where. This module puts the parts
together: ``build_province`` (``grid`` + ``injections``), then per day ``load``, ``faults``
and ``delivery``, written by ``writing``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from ami.province.calendar import mean_temperature
from ami.province.clock import day_ends, iso_utc, naive_utc, utc_instant
from ami.province.delivery import as_delivered, customer_rows, registers_frame
from ami.province.faults import (
    DayFaults,
    advance_registers,
    apply_faults,
    fault_truth,
    never_reporting,
)
from ami.province.grid import Province, build_grid, meters_table
from ami.province.injections import day_events, inject, inject_savings, meter_labels
from ami.province.load import DayResult, dr_windows, simulate_day, transformer_intervals
from ami.province.spec import GenerationSummary, ProvinceSpec
from ami.province.writing import (
    write_fault_truth,
    write_frame,
    write_injections,
    write_true_readings,
)


def build_province(spec: ProvinceSpec) -> Province:
    """Grid, customers and the injections of a spec (deterministic for its seed)."""
    rng = np.random.default_rng([spec.seed, 0])
    province = build_grid(spec, rng)
    inject(province, spec, rng)
    inject_savings(province, spec)
    return province


def _write_reference_files(p: Province, spec: ProvinceSpec, landing: Path
                           ) -> dict[int, tuple[int, int]]:
    """Write meters, temperature and DR events; return the DR windows per day index.

    Temperature and DR events are named by the span's first day
    (``temperature_<YYYY-MM-DD>.csv``, ``dr_events_<YYYY-MM-DD>.csv``) so that spans of one
    seed generated into the same landing zone keep each other's; ``meters.csv`` (the same
    grid) is overwritten.
    """
    write_frame(meters_table(p, spec), landing / "meters.csv", "csv")
    # What the utility knows of each TBA: its rating and the technical loss of its LV
    # network at no load and at rated load (the generator's own loss model).
    write_frame(pl.DataFrame({
        "transformer_id": p.tx_ids, "rated_kva": p.tx_kva.astype(float),
        "fixed_loss_kw": p.tx_p0_kw, "load_loss_kw": np.round(p.tx_k * p.tx_kva**2, 4),
    }), landing / "transformers.csv", "csv")
    first = spec.start.isoformat()
    write_frame(temperature_frame(spec).with_columns(pl.col("date").dt.to_string("%Y-%m-%d")),
                landing / f"temperature_{first}.csv", "csv")
    # Demand response on the hottest working days, 17:30–20:30 local.
    windows = dr_windows(spec)
    days = [spec.start + timedelta(days=d) for d in sorted(windows)]
    write_frame(pl.DataFrame({
        "event_id": [_dr_event_id(day) for day in days],
        "start_at": [iso_utc(utc_instant(day, 17.5 * 60)) for day in days],
        "end_at": [iso_utc(utc_instant(day, 20.5 * 60)) for day in days],
        "target_kw": [round(float(p.level_kw[p.dr].sum() * 0.25), 1)] * len(days),
        "participants": [";".join(p.meter_id[p.dr])] * len(days),
    }, schema={"event_id": pl.String, "start_at": pl.String, "end_at": pl.String,
               "target_kw": pl.Float64, "participants": pl.String}),
        landing / f"dr_events_{first}.csv", "csv")
    return windows


def _dr_event_id(day: date) -> str:
    return f"DR-{day:%Y%m%d}"


def temperature_frame(spec: ProvinceSpec) -> pl.DataFrame:
    """Daily mean temperature of every day of the span: ``date`` (pl.Date), ``temp_c_mean``."""
    days = [spec.start + timedelta(days=d) for d in range(spec.days)]
    return pl.DataFrame({"date": days,
                         "temp_c_mean": [mean_temperature(day, spec.seed) for day in days]},
                        schema={"date": pl.Date, "temp_c_mean": pl.Float64})


def generate_province(spec: ProvinceSpec, landing: Path, truth: Path,
                      progress: Callable[[int, int], None] | None = None) -> GenerationSummary:
    """Write the landing zone and the ground truth of a synthetic province."""
    spec.check()
    landing, truth = Path(landing), Path(truth)
    p = build_province(spec)
    ext = spec.file_format
    step = spec.interval_minutes
    windows = _write_reference_files(p, spec, landing)
    files = 3
    days = [spec.start + timedelta(days=d) for d in range(spec.days)]
    n, n_tx = len(p.meter_id), len(p.tx_ids)
    register_import, register_export, total_reg_import = _first_registers(spec, n, n_tx)
    total_reg_export = np.zeros(n_tx)
    total_ids = np.array([f"TT-{t}" for t in p.tx_ids])
    tx_days, rows_written = [], 0
    fault_cells: list[tuple[str, datetime, str]] = []
    fault_days: list[tuple[str, date, str]] = []
    silent = never_reporting(p.meter_id, p.fault)
    dr_rows: list[pl.DataFrame] = []
    for d, day in enumerate(days):
        res = simulate_day(p, spec, d, windows)
        if d in windows:
            dr_rows.append(_dr_truth_rows(p, spec, res, day, windows[d]))
        flows = transformer_intervals(p, res)
        faults = apply_faults(p.fault, d, res.registered.copy())
        ends = day_ends(day, step)
        solar_on = p.solar_on(d) > 0
        readings = _readings_frame(p, res, faults, ends=ends, flows=flows, total_ids=total_ids,
                                   solar_on=solar_on)
        cells, meter_days = fault_truth(p.meter_id, faults, day, ends)
        fault_cells += cells
        fault_days += meter_days
        rows_written += readings.height
        name = f"{day.isoformat()}.{ext}"
        write_frame(readings, landing / f"readings_{name}", ext)
        register_import = advance_registers(register_import, faults)
        register_export = np.round(register_export + res.true_export.sum(axis=1), 3)
        total_reg_import = np.round(total_reg_import + flows["total_import_kwh"].sum(axis=1), 3)
        total_reg_export = np.round(total_reg_export + flows["total_export_kwh"].sum(axis=1), 3)
        registers = registers_frame(
            np.concatenate([p.meter_id, total_ids]), day,
            imports=np.concatenate([register_import, total_reg_import]),
            exports=np.concatenate([np.where(solar_on, register_export, np.nan),
                                    total_reg_export]), silent=silent)
        write_frame(registers, landing / f"registers_{name}", ext)
        write_frame(day_events(p, spec, d, day), landing / f"events_{name}", ext)
        files += 3
        tx_days.append(_truth_day(p, flows, day, ends=ends,
                                  unclean_tx=_unclean_transformers(p, res, d), truth=truth))
        if spec.write_true_readings:
            write_true_readings(p.meter_id, ends, true_import=res.true_import,
                                true_export=res.true_export, registered=res.registered,
                                target=truth / f"true_readings_{day.isoformat()}.parquet")
        if progress:
            progress(d + 1, spec.days)
    write_frame(pl.concat(tx_days), truth / "transformer_days.parquet", "parquet")
    write_injections(truth, p.injections)
    write_frame(meter_labels(p), truth / "meters.parquet", "parquet")
    write_fault_truth(truth, fault_cells, fault_days)
    write_savings_truth(p, spec, truth, dr_rows)
    return GenerationSummary(
        customers=n, transformers=n_tx, feeders=len(p.feeder_ids), branches=len(p.branch_ids),
        reading_rows=rows_written, thefts=len(p.theft), faults=len(p.fault), files=files,
        landing=landing, truth=truth)


def _first_registers(spec: ProvinceSpec, n: int, n_tx: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Register readings before the span: customer import and export, total meter import."""
    rng0 = np.random.default_rng([spec.seed, 2])
    register_import = np.round(rng0.uniform(1000, 50000, n), 3)
    register_export = np.round(rng0.uniform(100, 5000, n), 3)
    return register_import, register_export, np.round(rng0.uniform(1e5, 1e6, n_tx), 3)


def _dr_truth_rows(p: Province, spec: ProvinceSpec, res: DayResult, day: date,
                   window: tuple[int, int]) -> pl.DataFrame:
    """One DR event's truth: a row per participant (see ``write_savings_truth``)."""
    first, last = window
    ids = p.meter_id[p.dr]
    return pl.DataFrame({
        "event_id": [_dr_event_id(day)] * len(ids), "meter_id": ids,
        "reduction_kwh": res.dr_reduction[p.dr],
        "window_hours": [(last - first) * spec.interval_minutes / 60] * len(ids),
    }, schema={"event_id": pl.String, "meter_id": pl.String, "reduction_kwh": pl.Float64,
               "window_hours": pl.Float64})


def write_savings_truth(p: Province, spec: ProvinceSpec, truth: Path,
                        dr_rows: list[pl.DataFrame]) -> None:
    """Truth of the known savings behaviours, for evaluating the savings module.

    * ``advertising.csv``: ``meter_id``, ``compliant`` — the advertising-lit commercial
      customers (``tags`` = ``advertising`` in meters.csv) and whether they cut their load
      by half in the 17:30–22:30 peak of May–July from ``spec.saving_from``.
    * ``dr_truth.parquet``: per DR event and participant ``event_id``, ``meter_id``,
      ``reduction_kwh`` — the true energy the cut removed in the event window: the load at
      meter resolution after the contracted-capacity cap, outages and the other savings,
      before the cut minus after it, before solar netting (participants have no solar, so
      it is exactly the change of their true import) — and ``window_hours``.
    * ``solar_installs.csv``: ``meter_id``, ``installed_on`` (local date, ISO), ``kwp`` — new
      rooftop solar, generating from the local midnight of that day.

    The office saving is ``spec.office_saving_pct`` of every public_admin customer's load
    on days from ``spec.saving_from`` and needs no file.
    """
    ads = sorted(p.advertising.items())
    write_frame(pl.DataFrame({"meter_id": [str(p.meter_id[i]) for i, _ in ads],
                              "compliant": [c for _, c in ads]},
                             schema={"meter_id": pl.String, "compliant": pl.Boolean}),
                truth / "advertising.csv", "csv")
    empty = pl.DataFrame(schema={"event_id": pl.String, "meter_id": pl.String,
                                 "reduction_kwh": pl.Float64, "window_hours": pl.Float64})
    write_frame(pl.concat([empty, *dr_rows]), truth / "dr_truth.parquet", "parquet")
    installs = sorted(p.solar_install.items())
    write_frame(pl.DataFrame({
        "meter_id": [str(p.meter_id[i]) for i, _ in installs],
        "installed_on": [(spec.start + timedelta(days=day)).isoformat()
                         for _, (day, _) in installs],
        "kwp": [kwp for _, (_, kwp) in installs],
    }, schema={"meter_id": pl.String, "installed_on": pl.String, "kwp": pl.Float64}),
        truth / "solar_installs.csv", "csv")


def _unclean_transformers(p: Province, res: DayResult, d: int) -> np.ndarray:
    """Transformers whose day a meter fault touches (or the day after, clock spill)."""
    unclean = np.zeros(len(p.tx_ids), dtype=bool)
    for i, f in p.fault.items():
        if f["kind"] == "never_reporting" or int(f["onset"]) <= d <= int(f["end"]) + 1:
            unclean[np.unique(res.tx_of[i])] = True
    return unclean


def _readings_frame(p: Province, res: DayResult, faults: DayFaults, *, ends: list[datetime],
                    flows: dict[str, np.ndarray], total_ids: np.ndarray,
                    solar_on: np.ndarray) -> pl.DataFrame:
    """Interval rows of one day as delivered: customers (after faults) and total meters."""
    per_day = len(ends)
    export = np.where(solar_on[:, None], res.true_export, np.nan)
    customer = customer_rows(p.meter_id, faults, ends=ends, export=export)
    totals = pl.DataFrame({
        "meter_id": np.repeat(total_ids, per_day),
        "interval_end": np.tile(naive_utc(ends), len(total_ids)),
        "kwh_import": flows["total_import_kwh"].ravel(),
        "kwh_export": flows["total_export_kwh"].ravel(),
        "_present": True, "_offset": 0,
    })
    return as_delivered(
        pl.concat([customer, totals.with_columns(pl.col("_offset").cast(pl.Int64))]), per_day)


def _truth_day(p: Province, flows: dict[str, np.ndarray], day: date, *, ends: list[datetime],
               unclean_tx: np.ndarray, truth: Path) -> pl.DataFrame:
    """Write the interval truth of a day; return its transformer-day rows."""
    n_tx, per_day = flows["technical_kwh"].shape
    interval = pl.DataFrame({
        "transformer_id": np.repeat(p.tx_ids, per_day),
        "interval_end": np.tile(naive_utc(ends), n_tx),
        **{k: v.ravel() for k, v in flows.items()},
    }).with_columns(pl.col("interval_end").dt.replace_time_zone("UTC"))
    write_frame(interval, truth / f"transformer_intervals_{day.isoformat()}.parquet",
                 "parquet")
    sums = {k: v.sum(axis=1) for k, v in flows.items()}
    measured_loss = (sums["total_import_kwh"] - sums["total_export_kwh"]
                     + sums["customer_export_kwh"] - sums["registered_import_kwh"])
    return pl.DataFrame({
        "transformer_id": p.tx_ids, "date": [day] * n_tx,
        **{k: v for k, v in sums.items() if k != "registered_import_kwh"},
        "measured_loss_kwh": measured_loss, "clean": ~unclean_tx,
    })
