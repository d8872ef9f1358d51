"""Vendor source profiles: a Vietnamese head-end export lands exactly like the canonical one."""

import re
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from ami.orchestrate import run_chain_direct
from ami.settings import Settings
from pipelines.filedrop.settings import REQUIRED_COLUMNS
from tests.quality.test_vee import METERS, write_landing
from warehouse import Warehouse

VENDOR_HEADER = "Mã công tơ;Thời điểm;Chu kỳ (phút);Điện năng giao (kWh);Điện năng nhận (kWh)"


TONE_MARKS = "\u0300\u0301\u0303\u0309\u0323"  # the five combining tones of Windows-1258


def cp1258(text: str) -> bytes:
    """Encode as Windows-1258 does: letters precomposed, tone marks combining."""
    out = bytearray()
    for char in text:
        parts = unicodedata.normalize("NFD", char)
        letter = unicodedata.normalize("NFC", "".join(c for c in parts if c not in TONE_MARKS))
        tones = "".join(c for c in parts if c in TONE_MARKS)
        out += letter.encode("cp1258") + tones.encode("cp1258")
    return bytes(out)


def to_vendor(canonical_csv: Path, target: Path, encoding: str) -> None:
    """Rewrite a canonical readings file as the vn_hes_v1 export would deliver it."""
    frame = pl.read_csv(canonical_csv, infer_schema=False)
    lines = [VENDOR_HEADER]
    for row in frame.iter_rows(named=True):
        try:
            end = datetime.strptime(row["interval_end"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            start = (end - timedelta(minutes=30) + timedelta(hours=7)).strftime("%d/%m/%Y %H:%M")
        except ValueError:
            start = row["interval_end"]  # bad input stays bad
        values = [(row[c] or "").replace(".", ",") for c in ("kwh_import", "kwh_export")]
        lines.append(";".join([row["meter_id"], start, row["interval_minutes"], *values]))
    text = "\n".join(lines) + "\n"
    if encoding == "cp1258":
        data = cp1258(text)
        assert data != text.encode("utf-8")
    else:
        data = text.encode(encoding)
    target.write_bytes(data)


@pytest.mark.parametrize("encoding", [pytest.param("utf-8-sig", id="utf8-bom"),
                                      pytest.param("cp1258", id="windows-1258")])
def test_vendor_export_equals_canonical(settings: Settings, tmp_path: Path,
                                        encoding: str) -> None:
    write_landing(tmp_path / "canonical")
    vendor = tmp_path / "vendor"
    vendor.mkdir()
    (vendor / "meters.csv").write_text(METERS, encoding="utf-8")
    to_vendor(tmp_path / "canonical" / "readings_2026-10-01.csv",
              vendor / "readings_2026-10-01.csv", encoding)
    result = run_chain_direct(str(vendor), settings=settings)
    assert result.quarantined == []
    wh = Warehouse.at(settings.warehouse)
    from_vendor = wh.scan("readings", date="2026-10-01").collect()
    bronze = pl.read_parquet(wh.glob(f"{wh.bronze}/filedrop/readings/*.parquet")[0])
    assert set(bronze["_profile"]) == {"vn_hes_v1"}

    other = Settings(**{**settings.model_dump(), "warehouse": str(tmp_path / "wh2")})
    run_chain_direct(str(tmp_path / "canonical"), settings=other)
    from_canonical = Warehouse.at(other.warehouse).scan("readings", date="2026-10-01").collect()
    assert_frame_equal(from_vendor, from_canonical)


def test_unknown_header_names_the_file_and_the_fix(settings: Settings, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "meters.csv").write_text(METERS, encoding="utf-8")
    (landing / "readings_x.csv").write_text("Zählernummer;Zeit;Wert\nA;1;2\n", encoding="utf-8")
    result = run_chain_direct(str(landing), settings=settings)
    [bad] = result.quarantined
    assert bad.reason is not None
    assert "readings_x.csv" in bad.reason
    assert "Zählernummer" in bad.reason
    assert "source profile" in bad.reason


def test_truncated_gzip_is_quarantined(settings: Settings, tmp_path: Path) -> None:
    import gzip

    landing = tmp_path / "landing"
    write_landing(landing)
    data = gzip.compress((landing / "readings_2026-10-01.csv").read_bytes())
    (landing / "readings_2026-10-02.csv.gz").write_bytes(data[: len(data) // 2])
    result = run_chain_direct(str(landing), settings=settings)
    [bad] = result.quarantined
    assert "gzip" in (bad.reason or "")
    assert "ask for the file again" in (bad.reason or "")


def test_the_readme_contract_table_names_the_required_columns() -> None:
    """The README's data-contract table: the bold columns of each kind are the required ones."""
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    table = readme.split("| kind | columns |", 1)[1].split("\n\n", 1)[0]
    bold = {}
    for line in table.strip().splitlines()[1:]:
        kind, columns = (cell.strip() for cell in line.strip("|").split("|", 1))
        bold[kind.split(" ")[0]] = tuple(re.findall(r"\*\*`(\w+)`\*\*", columns))
    assert bold == REQUIRED_COLUMNS
