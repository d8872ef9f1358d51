"""The ingest manifest: typed entries, stored as the JSON earlier versions wrote."""

import json
from pathlib import Path

import pytest

from ami.errors import ConfigError
from warehouse import Warehouse
from warehouse.state import (
    MANIFEST,
    ManifestEntry,
    read_manifest,
    state_path,
    write_manifest,
)

#: A manifest as the untyped version wrote it: a landing file, an API load, a network.
EARLIER = {
    "readings_2026-10-01.csv": {
        "kind": "readings", "sha256": "ab12", "status": "loaded", "size": 1234,
        "mtime": 1790000000.5, "load_id": "1790000001.1", "dates": ["2026-10-01", "2026-10-02"],
        "date_rows": {"2026-10-01": 4800, "2026-10-02": 3}, "rows": 4803, "reason": None,
        "unusable_rows": 0},
    "readings_bad.csv": {
        "kind": "readings", "sha256": "cd34", "status": "quarantined", "size": 20,
        "mtime": 1790000000.0, "load_id": None, "dates": [], "date_rows": {}, "rows": 0,
        "reason": "no source profile matches", "unusable_rows": 0},
    "hes_api/1790000002.2": {
        "kind": "readings", "sha256": "", "status": "loaded", "load_id": "1790000002.2",
        "dataset": "hes_api", "dates": ["2026-10-03"], "date_rows": {"2026-10-03": 96},
        "rows": 96, "reason": None},
    "networks/LS01-T0001.json": {
        "kind": "network", "sha256": "ef56", "status": "loaded",
        "transformer_id": "LS01-T0001", "reason": None},
}


def _warehouse(tmp_path: Path, manifest: dict[str, object]) -> Warehouse:
    wh = Warehouse.at(str(tmp_path / "warehouse"))
    path = Path(state_path(wh, MANIFEST))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest), encoding="utf-8")
    return wh


def test_an_earlier_manifest_reads_typed_and_writes_back_the_same(tmp_path: Path) -> None:
    wh = _warehouse(tmp_path, EARLIER)
    manifest = read_manifest(wh)
    api, file = manifest["hes_api/1790000002.2"], manifest["readings_2026-10-01.csv"]
    assert file.dates == ("2026-10-01", "2026-10-02") and file.touches("2026-10-02")
    assert file.date_rows["2026-10-01"] == 4800 and file.rows == 4803 and file.loaded
    assert api.dataset == "hes_api" and api.unusable_rows == 0 and not api.touches("2026-10-01")
    assert not manifest["readings_bad.csv"].loaded
    assert manifest["networks/LS01-T0001.json"].transformer_id == "LS01-T0001"
    write_manifest(wh, manifest)
    stored = json.loads(Path(state_path(wh, MANIFEST)).read_text(encoding="utf-8"))
    # None fields are left out; everything else is as it was
    assert stored == {name: {k: v for k, v in entry.items() if v is not None}
                      | ({"unusable_rows": 0} if entry["kind"] == "readings" else {})
                      | ({"dates": [], "date_rows": {}, "rows": 0, "unusable_rows": 0}
                         if entry["kind"] == "network" else {})
                      for name, entry in EARLIER.items()}
    assert read_manifest(wh) == manifest


def test_retiring_keeps_the_entry_and_says_when() -> None:
    entry = ManifestEntry.from_json(EARLIER["readings_2026-10-01.csv"])
    retired = entry.retired("2027-01-01T00:00:00+00:00")
    assert not retired.loaded and retired.status == "retired"
    assert retired.retired_at == "2027-01-01T00:00:00+00:00"
    assert retired.dates == entry.dates and retired.load_id == entry.load_id and entry.loaded


@pytest.mark.parametrize("bad", [{"kind": "readings", "checksum_v2": "x"}, {"sha256": "x"}])
def test_an_entry_this_version_does_not_know_is_refused_not_dropped(
        tmp_path: Path, bad: dict[str, object]) -> None:
    wh = _warehouse(tmp_path, {"readings_2027-01-01.csv": bad})
    with pytest.raises(ConfigError, match=r"readings_2027-01-01\.csv") as error:
        read_manifest(wh)
    assert "another version" in str(error.value.fix)
