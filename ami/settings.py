"""One frozen settings object for the whole project (env prefix ``AMI_``).

Every threshold, target and location lives here with its unit, so that DAGs, the CLI
and tests read the same values. Pass it keyword-only (``*, settings``); never read
``os.environ`` elsewhere.
"""

from __future__ import annotations

from datetime import time
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Project configuration; override any field with ``AMI_<FIELD>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="AMI_", frozen=True, extra="ignore")

    # --- locations -------------------------------------------------------------------
    data_dir: Path = Field(Path("data"), description="Root of everything the demo writes.")
    landing: str = Field("data/landing", description="Landing zone URL or path (head-end drops).")
    warehouse: str = Field("data/warehouse", description="Warehouse root URL or path.")
    truth_dir: Path = Field(
        Path("data/truth"), description="Synthetic ground truth; the pipeline never reads it."
    )
    reports_dir: Path = Field(Path("data/reports"), description="Where monthly reports go.")
    hes_api_url: str | None = Field(
        None, description="Head-end REST API base URL; its token comes from dlt secrets."
    )
    cmis_url: str | None = Field(
        None, description="Customer system database (SQLAlchemy URL); None: meters files only."
    )
    source_profiles_dir: Path | None = Field(
        None, description="Extra source profiles (YAML) mapping vendor files onto the contract."
    )
    airflow_home: Path = Field(
        Path("data/airflow"), description="AIRFLOW_HOME of the embedded default (SQLite)."
    )

    # --- time ------------------------------------------------------------------------
    timezone: str = Field("Asia/Ho_Chi_Minh", description="Local time zone (UTC+7, no DST).")
    interval_minutes: int = Field(30, description="Default load-profile interval [min].")
    peak_start: time = Field(time(17, 30), description="Evening peak start, local [HH:MM].")
    peak_end: time = Field(time(22, 30), description="Evening peak end, local [HH:MM].")

    # --- targets (province 2026 plan) ------------------------------------------------
    loss_target_pct: float = Field(6.0, description="Distribution loss goal [%].")
    loss_stretch_pct: float = Field(3.0, description="Stretch loss goal for 2026 [%].")

    # --- VEE thresholds --------------------------------------------------------------
    max_interpolation_gap_minutes: int = Field(
        120, description="Gaps up to this length are linearly interpolated [min]."
    )
    spike_factor: float = Field(
        10.0, description="A value above this many robust deviations of the meter's own "
        "history (median + k*MAD, floor 1 kWh) is a spike [-]."
    )
    absurd_kwh_per_kw: float = Field(
        2.0, description="Interval energy above this × contracted_kw × hours is absurd [-]."
    )
    flat_line_intervals: int = Field(
        24, description="This many equal non-zero consecutive values is a flat line [intervals]."
    )
    completeness_threshold: float = Field(
        0.95, description="Balances with a lower measured share are unreliable [0-1]."
    )

    # --- anomaly scoring -------------------------------------------------------------
    anomaly_recent_days: int = Field(14, description="Recent window compared to history [d].")
    anomaly_top_n: int = Field(10, description="Meters shown in the demo summary.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use e.g. Asia/Ho_Chi_Minh") from None
        return value

    @property
    def tz(self) -> ZoneInfo:
        """The local time zone object."""
        return ZoneInfo(self.timezone)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, read once per process."""
    return Settings()
