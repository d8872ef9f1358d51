"""Every loaded reading ends somewhere: rows loaded = silver + duplicates + quarantine + waiting.

Files of every supported shape (instants with Z, ±hh:mm, ±hhmm, fractions, a space for
the T; gzip and Parquet; the Vietnamese vendor profile) carry the same day of readings
with the same faults; the reconciliation of each must account for every row, and put
each fault where it belongs.
"""

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from ami.cli import main
from ami.orchestrate import run_chain_direct
from ami.settings import Settings
from quality.reconcile import reconcile_readings
from warehouse import Warehouse

DAY_START = datetime(2026, 9, 30, 17, 0, tzinfo=UTC)  # local midnight starting 2026-10-01
METERS = [f"PC{i}" for i in range(1, 7)]
ICT = timedelta(hours=7)


def _text(moment: datetime, shape: str) -> str:
    """``moment`` (UTC) written as a file of ``shape`` writes it."""
    local = moment + ICT
    return {
        "z": f"{moment:%Y-%m-%dT%H:%M:%S}Z",
        "offset": f"{local:%Y-%m-%dT%H:%M:%S}+07:00",
        "offset_compact": f"{local:%Y-%m-%dT%H:%M:%S}+0700",
        "fraction_space": f"{local:%Y-%m-%d %H:%M:%S}.000000 +07:00",
        "no_seconds": f"{moment:%Y-%m-%dT%H:%M}Z",
        # the vendor labels an interval by its start, in local time
        "vendor": f"{local - timedelta(minutes=30):%d/%m/%Y %H:%M}",
    }[shape]


def _rows(seed: int) -> tuple[list[tuple[str, datetime, str]], dict[str, int]]:
    """A day of readings with faults, and how many rows each fault should account for."""
    rng = np.random.default_rng(seed)
    rows = [(m, DAY_START + timedelta(minutes=30 * k), f"{rng.uniform(0.05, 0.9):.3f}")
            for m in METERS for k in range(1, 49)]
    bad = {"duplicate_equal": 2, "duplicate_conflicting": 2, "negative_value": 2,
           "off_grid_timestamp": 1, "unparsable": 2, "waiting": 3}
    picks = rng.choice(len(rows), size=8, replace=False)
    extra = [rows[i] for i in picks[:2]]                                     # equal copies
    extra += [(m, t, f"{float(v) + 1:.3f}") for m, t, v in (rows[i] for i in picks[2:4])]
    extra += [(m, t, f"-{v}") for m, t, v in (rows[i] for i in picks[4:6])]  # negatives
    # (a negative row is a second row for its interval; quarantined before the grid)
    extra.append(("PC1", DAY_START + timedelta(minutes=607), "0.5"))       # off the grid
    extra += [("PC2", DAY_START + timedelta(days=1, minutes=30 * k), "0.4")  # next day
              for k in (1, 2, 3)]
    return rows + extra, bad


def _write(folder: Path, shape: str, seed: int) -> str:
    rows, _ = _rows(seed)
    texts = [(m, _text(t, "offset" if shape in ("gzip", "parquet") else shape), v)
             for m, t, v in rows]
    # unusable instants: no zone (the vendor profile names its zone: no such day there)
    texts += [("PC3", "31/09/2026 08:00" if shape == "vendor" else "2026-10-01 08:00:00", "0.2"),
              ("PC3", "yesterday", "0.2")]
    folder.mkdir(parents=True, exist_ok=True)
    if shape == "vendor":
        name = "readings_2026-10-01.csv"
        lines = ["Mã công tơ;Thời điểm;Chu kỳ (phút);Điện năng giao (kWh)"] + [
            f"{m};{t};30;{v.replace('.', ',')}" for m, t, v in texts]
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8-sig")
        return name
    frame = pl.DataFrame({"meter_id": [m for m, _, _ in texts],
                          "interval_end": [t for _, t, _ in texts],
                          "interval_minutes": "30", "kwh_import": [v for _, _, v in texts]})
    if shape == "parquet":
        name = "readings_2026-10-01.parquet"
        frame.write_parquet(folder / name)
    elif shape == "gzip":
        name = "readings_2026-10-01.csv.gz"
        (folder / name).write_bytes(gzip.compress(frame.write_csv().encode()))
    else:
        name = "readings_2026-10-01.csv"
        frame.write_csv(folder / name)
    return name


@pytest.mark.parametrize("shape", ["z", "offset", "offset_compact", "fraction_space",
                                   "no_seconds", "gzip", "parquet", "vendor"])
@pytest.mark.parametrize("seed", [1, 2])
def test_every_row_loaded_is_accounted_for(settings: Settings, tmp_path: Path, shape: str,
                                           seed: int) -> None:
    name = _write(tmp_path / "landing", shape, seed)
    run_chain_direct(str(tmp_path / "landing"), settings=settings)
    [file] = reconcile_readings([name], settings=settings)
    _, bad = _rows(seed)
    assert file.rows == 6 * 48 + sum(bad.values())
    assert file.unaccounted == 0
    assert file.duplicates_dropped == bad["duplicate_equal"]
    assert file.rules == {"duplicate_conflicting": 2, "negative_value": 2,
                          "off_grid_timestamp": 1, "unparsable": 2}
    assert (file.waiting, file.waiting_days) == (3, ("2026-10-02",))
    assert file.in_silver == 6 * 48
    assert file.not_built == 0
    silver = Warehouse.at(settings.warehouse).scan("readings", date="2026-10-01").collect()
    assert silver.filter(pl.col("quality") == "measured").height == 6 * 48


def test_the_day_files_read_the_same_whatever_their_shape(settings: Settings,
                                                          tmp_path: Path) -> None:
    frames = []
    for shape in ("z", "vendor", "parquet"):
        folder = tmp_path / shape
        _write(folder / "landing", shape, 3)
        run = settings.model_copy(update={"warehouse": str(folder / "warehouse"),
                                          "data_dir": folder})
        run_chain_direct(str(folder / "landing"), settings=run)
        frames.append(Warehouse.at(run.warehouse).scan("readings").collect()
                      .sort("meter_id", "interval_end"))
    assert frames[0].height == 6 * 48
    assert frames[0].equals(frames[1])
    assert frames[0].equals(frames[2])


def test_ingest_fails_naming_a_file_without_one_usable_instant(settings: Settings,
                                                             tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str],
                                                             ) -> None:
    landing = tmp_path / "landing"
    _write(landing, "z", 1)
    (landing / "readings_naive.csv").write_text(
        "meter_id,interval_end,interval_minutes,kwh_import\n"
        "PC1,2026-10-02 00:30:00,30,0.2\nPC1,2026-10-02 01:00:00,30,0.3\n", encoding="utf-8")
    assert main(["ingest", "--landing", str(landing)]) == 1
    out = capsys.readouterr()
    assert "readings_naive.csv" in out.err
    assert "'2026-10-02 00:30:00' has no zone" in out.err
    assert "row 1" in out.err
    # the good file went its way, and its waiting day is named
    assert "2026-10-02" in out.out
    assert "readings_2026-10-01.csv" in out.out
    assert Warehouse.at(settings.warehouse).partitions("readings", "date") == ["2026-10-01"]
