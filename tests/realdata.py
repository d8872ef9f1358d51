"""The real household data the tests read, and the ways real systems write it.

``tests/data/realdata/`` is the development set described in its PROVENANCE.md: 87 London
households, 2013, half-hourly (UK Power Networks, Low Carbon London; CC BY 4.0). The
forms below write the same readings as the three exports a Vietnamese utility meets:
UTC instants with ``Z``, local instants with ``+07:00``, and the head-end vendor profile
(``vn_hes_v1``: Vietnamese headers, ``;``, decimal comma, ``dd/mm/yyyy HH:MM`` local time,
intervals labelled by their start).
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

REAL_DIR = Path(__file__).parent / "data" / "realdata"
REAL_FILE = REAL_DIR / "households.parquet"
FORMS = ("utc", "plus7", "vendor")


def real_readings(*, first: datetime | None = None, days: int | None = None) -> pl.DataFrame:
    """The real readings as text (canonical columns), the ``days`` from ``first`` [UTC]."""
    frame = pl.read_parquet(REAL_FILE)
    if first is not None and days is not None:
        end = pl.col("interval_end").str.to_datetime(time_zone="UTC")
        frame = frame.filter((end > first) & (end <= first + timedelta(days=days)))
    return frame


def shifted(frame: pl.DataFrame, *, weeks: int) -> pl.DataFrame:
    """The readings ``weeks`` later (negative: earlier), same weekdays, ``Z`` instants."""
    end = pl.col("interval_end").str.to_datetime(time_zone="UTC") + pl.duration(weeks=weeks)
    return frame.with_columns(end.dt.strftime("%Y-%m-%dT%H:%M:%SZ").alias("interval_end"))


def write_form(frame: pl.DataFrame, form: str, path: Path) -> Path:
    """Write canonical text readings as ``form`` (one of :data:`FORMS`) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    end = pl.col("interval_end").str.to_datetime(time_zone="UTC")
    local = end.dt.convert_time_zone("Asia/Ho_Chi_Minh")
    if form == "utc":
        frame.write_csv(path)
    elif form == "plus7":
        frame.with_columns(local.dt.strftime("%Y-%m-%dT%H:%M:%S%:z").alias("interval_end")) \
            .write_csv(path)
    elif form == "vendor":
        minutes = pl.duration(minutes=pl.col("interval_minutes").cast(pl.Int64))
        frame.select(
            pl.col("meter_id").alias("Mã công tơ"),
            (local - minutes).dt.strftime("%d/%m/%Y %H:%M").alias("Thời điểm"),
            pl.col("interval_minutes").alias("Chu kỳ (phút)"),
            pl.col("kwh_import").str.replace(".", ",", literal=True)
            .alias("Điện năng giao (kWh)"),
        ).write_csv(path, separator=";")
    else:
        raise ValueError(form)
    return path


START_2013 = datetime(2013, 1, 1, tzinfo=UTC)
