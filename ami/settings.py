"""One frozen settings object for the whole project (env prefix ``AMI_``).

Every threshold, target and location lives here with its unit, so that DAGs, the CLI
and tests read the same values. Pass it keyword-only (``*, settings``); never read
``os.environ`` elsewhere.
"""

from __future__ import annotations

from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ami.errors import ConfigError

#: The retail tariff table shipped with the package (see ``ami.tariffs``).
PACKAGED_TARIFFS = Path(__file__).with_name("tariffs.csv")


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
    cmis_timezone: str = Field(
        "UTC", description="Zone of the customer system's timestamps stored without one "
        "(e.g. Asia/Ho_Chi_Minh for a database of local times); zoned ones are kept."
    )
    source_profiles_dir: Path | None = Field(
        None, description="Extra source profiles (YAML) mapping vendor files onto the contract."
    )
    airflow_home: Path = Field(
        Path("data/airflow"), description="AIRFLOW_HOME of the embedded default (SQLite)."
    )
    tariffs: Path = Field(
        PACKAGED_TARIFFS, description="Dated retail tariff table (CSV, VND/kWh excluding "
        "VAT; format in ami/tariffs.py); the utility points this to its own, updated copy."
    )

    # --- time ------------------------------------------------------------------------
    timezone: str = Field("Asia/Ho_Chi_Minh", description="Local time zone (UTC+7, no DST).")
    interval_minutes: int = Field(30, description="Default load-profile interval [min].")
    peak_start: time = Field(time(17, 30), description="Evening peak start, local [HH:MM].")
    peak_end: time = Field(time(22, 30), description="Evening peak end, local [HH:MM].")

    # --- targets (province 2026 plan) ------------------------------------------------
    loss_target_pct: float = Field(6.0, description="Distribution loss goal [%].")
    loss_stretch_pct: float = Field(3.0, description="Stretch loss goal for 2026 [%].")
    savings_model_meters: int = Field(
        50, description="Meters per customer group whose weather-normalised (CalTRACK) "
        "baseline is fitted, a seeded sample; the group's savings is their ratio estimate. "
        "A fit costs about a second of one core, once per meter and baseline year."
    )
    loss_jump_pp: float = Field(
        3.0, description="A transformer's daily loss rate rising by this much (median "
        "after vs before) is reported as a change, with its date [percentage points]."
    )
    network_power_factor: float = Field(
        0.95, description="Power factor of customer loads in network power flows [0-1]."
    )
    default_peak_loading: float = Field(
        0.8, description="Without a rating, a transformer's peak load is taken as this "
        "share of its rating [0-1]."
    )
    default_fixed_loss_share: float = Field(
        0.002, description="Without parameters, fixed technical loss as a share of the "
        "rating [0-1]."
    )
    default_load_loss_share: float = Field(
        0.065, description="Without parameters, technical loss at rated load as a share of "
        "the rating [0-1]."
    )
    network_coverage: float = Field(
        0.9, description="Share of customer energy that must map to buses of a network "
        "model for the power flow to be used (else the estimate) [0-1]."
    )

    # --- VEE thresholds --------------------------------------------------------------
    max_interpolation_gap_minutes: int = Field(
        120, description="Gaps up to this length are linearly interpolated [min]."
    )
    spike_factor: float = Field(
        10.0, description="A value above median + k·1.4826·MAD of the meter's own day is a "
        "spike candidate [-]."
    )
    spike_p90_factor: float = Field(
        4.0, description="A spike is also above this many times the day's 90th percentile [-]."
    )
    spike_floor_kwh_per_hour: float = Field(
        2.0, description="Values below this energy rate are never spikes [kWh/h]."
    )
    zero_run_minutes: int = Field(
        240, description="Zeros lasting this long on a meter without solar are flagged [min]."
    )
    group_range_z: float = Field(
        6.0, description="Daily kWh/kW this many robust deviations (log scale) from the "
        "customer group's median is out of range [-]."
    )
    group_range_min_meters: int = Field(
        30, description="Groups smaller than this are not ranged [meters]."
    )
    multiplier_min_ratio: float = Field(
        1.6, description="Energy per interval this many times the meter's recent median "
        "is a multiplier / CT-ratio jump [-]."
    )
    multiplier_base_floor_kw: float = Field(
        0.04, description="Base loads below this power are counted as it when the multiplier "
        "check compares them (a few watts of standby doubling is no multiplier) [kW]."
    )
    multiplier_noise_z: float = Field(
        3.0, description="A multiplier jump stands this many robust deviations of the "
        "meter's own day-to-day (log) energy above its history [-]."
    )
    multiplier_min_history_days: int = Field(
        2, description="Days of history needed before a multiplier jump is judged [d]."
    )
    register_tolerance_kwh: float = Field(
        0.5, description="Interval sum vs register delta: absolute tolerance [kWh]."
    )
    register_tolerance_share: float = Field(
        0.02, description="Interval sum vs register delta: relative tolerance [0-1]."
    )
    like_day_weeks: int = Field(
        4, description="Same-weekday days of this many past weeks form the like-day "
        "profile [weeks]."
    )
    absurd_kwh_per_kw: float = Field(
        2.0, description="Interval energy above this × contracted_kw × hours is absurd [-]."
    )
    flat_line_intervals: int = Field(
        24, description="This many equal non-zero consecutive values is a flat line [intervals]."
    )
    day_delivered_share: float = Field(
        0.5, description="A delivery is a day's own (the day is built, and every expected "
        "meter without data is a finding) when it holds at least this share of the rows of "
        "its fullest day; fewer are rows spilling over midnight, which wait [0-1]."
    )
    completeness_threshold: float = Field(
        0.95, description="Balances with a lower measured share are unreliable [0-1]."
    )

    # --- anomaly scoring -------------------------------------------------------------
    anomaly_recent_days: int = Field(14, description="Recent window compared to history [d].")
    anomaly_top_n: int = Field(10, description="Meters shown in the demo summary.")

    # --- review web app (``ami app``) --------------------------------------------------
    app_db: str | None = Field(
        None, description="SQLAlchemy URL of the app's users, sessions and login attempts; "
        "None: SQLite at <data_dir>/app/app.db (PostgreSQL for several app processes)."
    )
    app_host: str = Field("127.0.0.1", description="Address the app binds to (loopback: put "
                          "a TLS reverse proxy in front to serve others).")
    app_port: int = Field(8000, description="Port of the app.")
    app_secure_cookies: bool = Field(
        False, description="Mark the session cookie Secure (set it when the app is served "
        "over TLS, as behind the compose file's proxy)."
    )
    app_session_hours: float = Field(12.0, description="A login lasts this long [h].")
    app_login_attempts: int = Field(
        5, description="Failed logins allowed per user name and per client address within "
        "app_login_window_minutes; more are refused until the window passes."
    )
    app_login_window_minutes: float = Field(15.0, description="Login rate-limit window [min].")

    # --- Great Expectations gates at the layer boundaries -----------------------------
    gx_silver_gate: Literal["block", "warn"] = Field(
        "block", description="Silver readings gate: a failing error-level expectation "
        "blocks the day (raises QualityGateError, gold is not built) or only warns."
    )
    gx_gold_gate: Literal["block", "warn"] = Field(
        "block", description="Gold meter-day gate: a failing error-level expectation "
        "blocks the day (raises QualityGateError) or only warns."
    )

    @field_validator("timezone", "cmis_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use e.g. Asia/Ho_Chi_Minh") from None
        return value

    @property
    def app_db_url(self) -> str:
        """The app database's SQLAlchemy URL (SQLite under the data folder by default)."""
        return self.app_db or f"sqlite:///{(self.data_dir / 'app' / 'app.db').resolve()}"

    @property
    def tz(self) -> ZoneInfo:
        """The local time zone object."""
        return ZoneInfo(self.timezone)

    def in_zone(self, zone: str | None) -> Settings:
        """These settings with local days in ``zone`` (an IANA name; None: unchanged).

        Data from elsewhere keeps its own clock: London readings read as Vietnamese days
        would split every evening in two.
        """
        if zone is None or zone == self.timezone:
            return self
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"unknown time zone {zone!r}",
                              fix="give an IANA zone, e.g. Europe/London or Asia/Ho_Chi_Minh") \
                from None
        return self.model_copy(update={"timezone": zone})


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, read once per process."""
    return Settings()
