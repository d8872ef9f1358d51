"""Run the benchmarks, each step in its own process, and write the README table.

    python -m benchmarks.run [--meters 300000] [--days 1] [--keep]

Steps: generate the synthetic province (CSV); ingest it into bronze (dlt); VEE into
silver; the Great Expectations gate on silver; gold (meter-day energy and balances);
then a month: the silver day is copied to the other 29 days of October (setup) and gold
is built for the 29 new days plus the month's balances (issue 6's target: ≤ 120 s and
≤ 8 GB for a 300,000-meter month). A last row adds up ingest + VEE (issue 4's target: one
province day into silver in ≤ 30 s and ≤ 4 GB). Peak memory is the step process's
maximum resident set size.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Every step but ``generate`` opens the run's folder with these settings (``s``).
SETTINGS = (
    "import sys; from pathlib import Path\n"
    "from ami.settings import Settings\n"
    "root = Path(sys.argv[3])\n"
    "s = Settings(data_dir=root, landing=str(root / 'landing'),"
    " warehouse=str(root / 'warehouse'))\n"
)

#: Gold of every day whose silver is new, then the months they fall in.
GOLD = SETTINGS + (
    "from models.balances import build_day, build_month, months_of, pending_gold_days\n"
    "days = pending_gold_days(settings=s)\n"
    "for day in days: build_day(day, settings=s)\n"
    "for month in months_of(days): build_month(month, settings=s)\n"
    "print('gold days', len(days))\n"
)

STEPS = {
    "generate": (
        "from datetime import date; from pathlib import Path; import sys\n"
        "from ami.province import ProvinceSpec, generate_province\n"
        "m, d, root = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])\n"
        "generate_province(ProvinceSpec(meters=m, days=d, start=date(2026, 10, 1),"
        " file_format='csv', write_true_readings=False), root / 'landing', root / 'truth')\n"
    ),
    "ingest into bronze": SETTINGS + (
        "from pipelines.ingest import ingest_landing\n"
        "r = ingest_landing(s.landing, settings=s)\n"
        "print('rows', r.rows_loaded)\n"
    ),
    "VEE → silver": SETTINGS + (
        "from quality.meters import build_meters\n"
        "from quality.vee import vee_pending\n"
        "build_meters(settings=s)\n"
        "print('days', [c.date for c in vee_pending(settings=s)])\n"
    ),
    "GX silver gate": SETTINGS + (
        "from quality.gates import check_silver_days\n"
        "from warehouse import Warehouse\n"
        "days = Warehouse.at(s.warehouse).partitions('readings', 'date')\n"
        "print([r.decision for r in check_silver_days(days, settings=s)])\n"
    ),
    "gold (meter-day, balances)": GOLD,
    "silver month (setup: the day copied to 30 days)": SETTINGS + (
        "from datetime import date, timedelta\n"
        "import polars as pl\n"
        "from warehouse import Warehouse, partition_meta, write_partition\n"
        "wh = Warehouse.at(s.warehouse)\n"
        "day = wh.read('readings', {'date': '2026-10-01'})\n"
        "sources = partition_meta(wh, 'readings', {'date': '2026-10-01'}).sources\n"
        "for d in range(1, 30):\n"
        "    other = (date(2026, 10, 1) + timedelta(days=d)).isoformat()\n"
        "    write_partition(day.with_columns(pl.col('interval_end') + timedelta(days=d)),"
        " 'readings', {'date': other}, warehouse=wh, sources=sources)\n"
    ),
    "gold month (29 more days + month balances)": GOLD,
}


def measure(code: str, *args: str) -> tuple[float, float]:
    """Wall seconds and peak RSS [GB] of running ``code`` in a fresh interpreter."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark step failed with status {status}")
    return seconds, usage.ru_maxrss / 1024 / 1024


def write_table(rows: list[tuple[str, str, float, float]], command: str) -> None:
    """Replace the README's performance table between the bench markers."""
    readme = ROOT / "README.md"
    lines = ["| step | size | wall time | peak memory |", "|---|---|---|---|"]
    lines += [f"| {s} | {size} | {t:,.1f} s | {m:,.2f} GB |" for s, size, t, m in rows]
    lines.append(f"\nCommand: `make bench` (`python -m benchmarks.run {command}`), "
                 f"{time.strftime('%Y-%m-%d')}.")
    text = readme.read_text(encoding="utf-8")
    text = re.sub(r"<!-- bench:start -->.*<!-- bench:end -->",
                  "<!-- bench:start -->\n" + "\n".join(lines) + "\n<!-- bench:end -->",
                  text, flags=re.S)
    readme.write_text(text, encoding="utf-8")


def main() -> int:
    """Entry point."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--meters", type=int, default=300_000)
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the data folder")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ami-bench-"))
    size = f"{args.meters:,} meters × {args.days} d × 48"
    month_size = f"{args.meters:,} meters × 30 d × 48"
    rows = []
    try:
        for name, code in STEPS.items():
            seconds, peak = measure(code, str(args.meters), str(args.days), str(root))
            rows.append((name, month_size if "month" in name else size, seconds, peak))
            print(json.dumps({"step": name, "seconds": round(seconds, 1),
                              "peak_gb": round(peak, 2)}), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    timed = {name: (seconds, peak) for name, _, seconds, peak in rows}
    if "ingest into bronze" in timed and "VEE → silver" in timed:
        parts = [timed["ingest into bronze"], timed["VEE → silver"]]
        rows.append(("ingest + VEE → silver (sum)", size, sum(t for t, _ in parts),
                     max(m for _, m in parts)))
    write_table(rows, f"--meters {args.meters} --days {args.days}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("POLARS_MAX_THREADS", "2")
    sys.exit(main())
