"""The read-only review page serves Vietnamese HTML and JSON from gold, on loopback."""

import json
import threading
import urllib.request
from collections.abc import Iterator

import polars as pl
import pytest

from ami.settings import Settings
from app.server import make_server
from warehouse import Warehouse, write_table


@pytest.fixture
def base_url(settings: Settings) -> Iterator[str]:
    scores = pl.DataFrame({"meter_id": ["PC000000007", "PC000000003"], "score": [0.97, 0.4],
                           "rank": [1, 2], "est_unbilled_kwh_month": [210.0, 3.0],
                           "reasons": ["ZERO: Công tơ ghi 0 kWh <script>", "DROP: giảm"],
                           "reason_codes": [["ZERO"], ["DROP"]],
                           "reasons_en": ["ZERO: the meter reads 0 kWh", "DROP: drop"],
                           "est_unbilled_vnd_month": [660_000.0, 6_000.0],
                           "customer_group": ["residential", "residential"],
                           "model": ["unsupervised", "unsupervised"]})
    write_table(scores, "anomaly_scores", warehouse=Warehouse.at(settings.warehouse))
    server = make_server(settings, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_page_lists_meters_in_rank_order(base_url: str) -> None:
    with urllib.request.urlopen(base_url + "/") as response:
        page = response.read().decode("utf-8")
    assert "Danh sách công tơ nghi vấn" in page
    assert page.index("PC000000007") < page.index("PC000000003")
    assert "<script>" not in page and "&lt;script&gt;" in page  # escaped


def test_api_returns_json(base_url: str) -> None:
    with urllib.request.urlopen(base_url + "/api/anomalies") as response:
        rows = json.loads(response.read())
    assert [r["meter_id"] for r in rows] == ["PC000000007", "PC000000003"]


def test_unknown_path_is_404(base_url: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(base_url + "/admin")
    info.value.close()
    assert info.value.code == 404
