"""What to generate (``ProvinceSpec``) and what was generated (``GenerationSummary``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

FORMATS = ("csv", "csv.gz", "parquet")


@dataclass(frozen=True)
class ProvinceSpec:
    """What to generate; the same spec and seed always give the same bytes."""

    meters: int = 3000
    start: date = date(2026, 9, 1)
    days: int = 61
    seed: int = 42
    interval_minutes: int = 30
    file_format: str = "csv.gz"
    theft_share: float = 0.03
    fault_share: float = 0.03
    solar_share: float = 0.04
    move_share: float = 0.005
    write_true_readings: bool = True
    #: Known savings behaviours for evaluating the savings module (truth in ``truth/``):
    #: offices (public_admin) use this share less on days from ``saving_from`` [%],
    office_saving_pct: float = 8.0
    saving_from: date = date(2026, 1, 1)
    #: share of commercial customers with outdoor advertising lighting, and the share of
    #: them that cut it by half in the evening peak of May–July from ``saving_from`` [-],
    advertising_share: float = 0.10
    advertising_compliance: float = 0.70
    #: share of residential and office customers without solar that install it in the span.
    new_solar_share: float = 0.01

    def check(self) -> None:
        """Raise ``ValueError`` with the fix when the spec cannot be generated."""
        if self.meters < 1:
            raise ValueError(f"meters must be at least 1, got {self.meters}")
        if self.days < 1:
            raise ValueError(f"days must be at least 1, got {self.days}")
        if self.interval_minutes not in (15, 30, 60):
            raise ValueError(f"interval_minutes must be 15, 30 or 60, got {self.interval_minutes}")
        if self.file_format not in FORMATS:
            raise ValueError(f"unknown file_format {self.file_format!r}; use one of {FORMATS}")
        for name in ("theft_share", "fault_share", "solar_share", "move_share"):
            if not 0 <= getattr(self, name) <= 0.5:
                raise ValueError(f"{name} must be between 0 and 0.5")
        if not 0 <= self.office_saving_pct <= 50:
            raise ValueError(f"office_saving_pct must be between 0 and 50 [%], "
                             f"got {self.office_saving_pct}")
        for name in ("advertising_share", "advertising_compliance"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be between 0 and 1")
        if not 0 <= self.new_solar_share <= 0.5:
            raise ValueError("new_solar_share must be between 0 and 0.5")


@dataclass(frozen=True)
class GenerationSummary:
    """Counts of what was generated and where."""

    customers: int
    transformers: int
    feeders: int
    branches: int
    reading_rows: int
    thefts: int
    faults: int
    files: int
    landing: Path
    truth: Path
