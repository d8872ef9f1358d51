"""Command-line contract: bad input ends in one clear line, a non-zero exit, no writes."""

import subprocess
import sys
from pathlib import Path

import pytest

from ami.cli import main
from ami.settings import Settings


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err.strip()


def written(settings: Settings) -> list[Path]:
    return [p for p in settings.data_dir.rglob("*") if p.is_file()] \
        if settings.data_dir.exists() else []


@pytest.mark.parametrize(
    ("argv", "expected_code", "says"),
    [
        pytest.param(["ingest", "--landing", "{tmp}/nope"], 1, "does not exist",
                     id="missing-landing-folder"),
        pytest.param(["ingest", "--landing", "{tmp}/empty"], 1, "holds no",
                     id="empty-landing-folder"),
        pytest.param(["losses", "--month", "2026-10", "--level", "transformer"], 1,
                     "no balances for 2026-10", id="month-without-data"),
        pytest.param(["losses", "--month", "10/2026"], 1, "not YYYY-MM", id="bad-month"),
        pytest.param(["losses", "--month", "2026-10", "--level", "district"], 1,
                     "unknown level", id="bad-level"),
        pytest.param(["demo", "--frobnicate"], 2, "No such option", id="unknown-option"),
        pytest.param(["demo", "--start", "tomorrow"], 1, "not a date", id="bad-date"),
        pytest.param(["savings", "--month", "2026-10", "--out", "{tmp}/s.txt"], 1,
                     "", id="savings-without-data"),
    ],
)
def test_bad_input_is_one_clear_line(
    argv: list[str], expected_code: int, says: str, settings: Settings, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "empty").mkdir()
    code, err = run(capsys, *[a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert code == expected_code
    assert err.startswith("ami: error:")
    assert says in err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    assert written(settings) == []


def test_help_lists_the_contract(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("demo", "ingest", "losses", "anomalies", "savings", "report"):
        assert command in out


def test_console_script_exit_code(tmp_path: Path) -> None:
    # The installed entry point, as outside tools call it.
    ami = Path(sys.executable).with_name("ami")
    done = subprocess.run([str(ami), "ingest", "--landing", str(tmp_path / "missing")],
                          capture_output=True, text=True, cwd=tmp_path, check=False)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "does not exist" in done.stderr
    assert not (tmp_path / "data").exists()


def test_demo_starts_afresh_only_for_another_province(settings: Settings) -> None:
    from datetime import date

    from ami.commands.synthetic import _reset_if_other_province
    from ami.province import ProvinceSpec

    spec = ProvinceSpec(meters=10, start=date(2026, 10, 1), days=2)
    _reset_if_other_province(spec, settings)
    kept = Path(settings.landing) / "readings_2026-10-01.csv"
    kept.parent.mkdir(parents=True)
    kept.write_text("x", encoding="utf-8")
    _reset_if_other_province(spec, settings)
    assert kept.exists()  # same province: files stay, the rerun loads nothing new
    _reset_if_other_province(ProvinceSpec(meters=11, start=date(2026, 10, 1), days=2), settings)
    assert not kept.exists()  # another province: no stale files mixed in


def test_demo_delivers_the_report_month_of_the_year_before() -> None:
    from datetime import date

    from ami.commands.synthetic import _last_full_month, _same_month_last_year
    from ami.province import ProvinceSpec

    spec = ProvinceSpec(meters=10, start=date(2026, 9, 1), days=61)
    month = _last_full_month(spec.start, spec.days)
    before = _same_month_last_year(spec, month)
    assert month == "2026-10" and before is not None
    assert (before.start, before.days, before.seed, before.meters) == (
        date(2025, 10, 1), 31, spec.seed, spec.meters)  # the same province, a year before
    # a span that holds last year's month already needs nothing more
    long = ProvinceSpec(meters=10, start=date(2025, 9, 1), days=426)
    assert _same_month_last_year(long, _last_full_month(long.start, long.days)) is None
    # the month before the span starts ends where the span begins
    short = _same_month_last_year(ProvinceSpec(start=date(2025, 10, 20), days=400), "2026-10")
    assert short is not None and (short.start, short.days) == (date(2025, 10, 1), 19)
