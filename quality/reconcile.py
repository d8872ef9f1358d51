"""Where every loaded reading went: the third level of the ingest reconciliation.

Ingest reconciles a file's rows with bronze (rows seen = loaded), VEE a day's rows with
silver (rows in = accepted + duplicates dropped + quarantined). This module joins the
two per readings delivery: every row loaded into bronze is, after VEE, in a silver day,
dropped as an exact duplicate, quarantined with its rule, or waiting for its day's own
delivery (the days named) — or, when VEE has not run yet, in a day not yet built. The
parts add up to the rows loaded; ``unaccounted`` says by how much they do not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ami.settings import Settings
from warehouse import Warehouse
from warehouse.state import ManifestEntry, read_json, read_manifest


@dataclass(frozen=True)
class FileReconciliation:
    """What became of one readings delivery's rows."""

    name: str
    rows: int                       # rows loaded into bronze (current version)
    in_silver: int = 0              # accepted into silver days
    duplicates_dropped: int = 0     # exact copies of a row kept elsewhere
    quarantined: int = 0            # rejected with a rule (silver quarantine)
    rules: dict[str, int] = field(default_factory=dict)
    waiting: int = 0                # rows of days whose own delivery has not arrived
    waiting_days: tuple[str, ...] = ()
    not_built: int = 0              # rows of days VEE has not (re)built yet
    not_built_days: tuple[str, ...] = ()

    @property
    def unaccounted(self) -> int:
        """Rows loaded that no part accounts for (0 when nothing is lost or doubled)."""
        return self.rows - (self.in_silver + self.duplicates_dropped + self.quarantined
                            + self.waiting + self.not_built)


def reconcile_readings(names: list[str], *, settings: Settings) -> list[FileReconciliation]:
    """The reconciliation of the current readings deliveries ``names`` (manifest entries).

    A day counts as built for a delivery when its VEE record holds that delivery with as
    many rows as ingest counted for it that day; a record of an earlier build (another
    version of the file) does not.
    """
    warehouse = Warehouse.at(settings.warehouse)
    manifest = read_manifest(warehouse)
    out = []
    for name in names:
        entry = manifest.get(name)
        if entry is None or entry.kind != "readings" or not entry.loaded:
            continue
        out.append(_reconcile(warehouse, name, entry))
    return out


def _reconcile(warehouse: Warehouse, name: str, entry: ManifestEntry) -> FileReconciliation:
    dates, date_rows, unusable = entry.dates, entry.date_rows, entry.unusable_rows
    parts: dict[str, int] = {"in_silver": 0, "duplicates_dropped": 0, "quarantined": 0,
                             "waiting": 0, "not_built": 0}
    rules: dict[str, int] = {}
    waiting_days, not_built_days = [], []
    for day in dates:
        # rows whose instant does not parse belong to the delivery's first day
        expected = date_rows.get(day, 0) + (unusable if day == dates[0] else 0)
        record = read_json(warehouse, f"vee/{day}.json") or {}
        counts = (record.get("entries") or {}).get(name)
        if counts is not None and int(counts["rows"]) == expected:
            parts["in_silver"] += int(counts["accepted"])
            parts["duplicates_dropped"] += int(counts["duplicates_dropped"])
            parts["quarantined"] += int(counts["quarantined"])
            for rule, n in dict(counts.get("rules") or {}).items():
                rules[rule] = rules.get(rule, 0) + int(n)
        elif "waiting_rows" in record:
            parts["waiting"] += expected
            waiting_days.append(day)
        else:
            parts["not_built"] += expected
            not_built_days.append(day)
    return FileReconciliation(
        name=name, rows=entry.rows,
        rules=dict(sorted(rules.items())), waiting_days=tuple(waiting_days),
        not_built_days=tuple(not_built_days), **parts)
