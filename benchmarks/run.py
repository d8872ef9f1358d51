"""Run the benchmarks, each step in its own process, and write the README table.

    python -m benchmarks.run [--meters 300000] [--days 1] [--keep]

Steps: generate the synthetic province (CSV); ingest it into bronze (dlt); VEE into
silver; the Great Expectations gate on silver; gold (meter-day energy and balances);
then a month: the silver day is copied to the other 29 days of October (setup) and gold
is built for the 29 new days plus the month's balances (issue 6's target: ≤ 120 s and
≤ 8 GB for a 300,000-meter month); then anomaly scoring: the hour bins and day features
of one day, those copied to every day of the scoring window and of the 400-day history
(setup), and the scoring (issue 7's and 14's target: 300,000 meters ≤ 10 min and ≤ 12
GB). Summary rows add up ingest + VEE (issue 4's target: one province day into silver in
≤ 30 s and ≤ 4 GB), the scoring after a day's data (one day's bins and features +
scoring) and the scoring from silver alone (every history day's bins and features,
extrapolated from the measured week, + scoring). Peak memory is
the step process's maximum resident set size.
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

from ami.settings import Settings
from models.anomaly.history import HISTORY_MAX_DAYS
from models.anomaly.readings import HISTORY_DAYS

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
        "from quality.schedule import vee_pending\n"
        "build_meters(settings=s)\n"
        "print('days', vee_pending(settings=s))\n"
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
    "anomaly hour bins (one day)": SETTINGS + (
        "from models.anomaly.jobs import build_hour_day\n"
        "print('bins', build_hour_day('2026-10-01', settings=s))\n"
    ),
    "anomaly hour bins (7 more days, one process)": SETTINGS + (
        "from models.anomaly.jobs import build_hour_day\n"
        "for d in range(2, 9): build_hour_day(f'2026-10-{d:02d}', settings=s)\n"
    ),
    "anomaly window (setup: the day's bins copied to the window, its features to 400 d)":
    SETTINGS + (
        "from datetime import date, timedelta\n"
        "from models.anomaly.readings import HISTORY_DAYS\n"
        "from warehouse import Warehouse, partition_meta, write_partition\n"
        "wh = Warehouse.at(s.warehouse)\n"
        "from models.anomaly.history import HISTORY_MAX_DAYS\n"
        "bins = wh.read('anomaly_hours', {'date': '2026-10-01'})\n"
        "sources = partition_meta(wh, 'anomaly_hours', {'date': '2026-10-01'}).sources\n"
        "features = wh.read('anomaly_days', {'date': '2026-10-01'})\n"
        "last = date(2026, 10, 30)\n"
        "for d in range(HISTORY_MAX_DAYS):\n"
        "    day = (last - timedelta(days=d)).isoformat()\n"
        "    if '2026-10-01' <= day <= '2026-10-08':\n"
        "        continue\n"
        "    if d < HISTORY_DAYS + s.anomaly_recent_days:\n"
        "        write_partition(bins, 'anomaly_hours', {'date': day}, warehouse=wh,"
        " sources=sources)\n"
        "    write_partition(features, 'anomaly_days', {'date': day}, warehouse=wh,"
        " sources=sources)\n"
    ),
    "anomaly scoring (window from the bins)": SETTINGS + (
        "from warehouse import Warehouse\n"
        "from models.anomaly.jobs import score_days\n"
        "days = Warehouse.at(s.warehouse).partitions('anomaly_hours', 'date')\n"
        "print('meters', score_days(days, settings=s).height, 'days', len(days))\n"
    ),
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
    window = HISTORY_DAYS + Settings().anomaly_recent_days
    window_size = f"{args.meters:,} meters × {window} d × 48"
    week_size = f"{args.meters:,} meters × 7 d × 48"
    history_size = f"{args.meters:,} meters × {HISTORY_MAX_DAYS} d × 48"
    rows = []
    try:
        for name, code in STEPS.items():
            seconds, peak = measure(code, str(args.meters), str(args.days), str(root))
            rows.append((name, window_size if "anomaly w" in name or "scoring" in name
                         else week_size if "7 more days" in name
                         else month_size if "month" in name else size, seconds, peak))
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
    bins, week = "anomaly hour bins (one day)", "anomaly hour bins (7 more days, one process)"
    scoring = "anomaly scoring (window from the bins)"
    if bins in timed and week in timed and scoring in timed:
        (t_bins, m_bins), (t_week, m_week), (t_score, m_score) = (
            timed[bins], timed[week], timed[scoring])
        rows.append(("anomaly scoring after a day's data (one day's bins + scoring)",
                     window_size, t_bins + t_score, max(m_bins, m_score)))
        # A backfill builds the days in one process (or two mapped DAG tasks at a time):
        # the window's hour bins and the whole history's day features (counted here at
        # the rate of a day with both, an upper bound for the days with features only).
        rows.append((f"anomaly scoring from silver alone ({HISTORY_MAX_DAYS} days' bins and "
                     "day features at the 7-day rate + scoring)", history_size,
                     HISTORY_MAX_DAYS * t_week / 7 + t_score, max(m_week, m_score)))
    write_table(rows, f"--meters {args.meters} --days {args.days}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("POLARS_MAX_THREADS", "2")
    sys.exit(main())
