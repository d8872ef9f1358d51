"""The review app in a real browser: Debian's Chromium driven by Playwright.

An inspector logs in through the form, reads the dashboard (Vietnamese numbers, the chart
Plotly drew), filters the anomaly queue, opens the top meter, records an inspection that
lands in gold ``inspections`` and, after the next scoring, moves the meter down the list.
A viewer sees the aggregates but no meter id; an inspector of another branch gets "not
found" for the meter. Every page visited is saved as a full-page screenshot under
``build/screenshots/`` (checked not to be blank) for people to look at.

Nothing is downloaded: the browser is the system's ``/usr/bin/chromium`` and every request
leaving the app's 127.0.0.1 address is refused and reported.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from time import monotonic
from typing import Any
from urllib.parse import parse_qs, urlparse

import polars as pl
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Route,
    expect,
    sync_playwright,
)

from app.gold import BANDS, CHECK_SECONDS
from models.anomaly.inspections import read_inspections
from tests.app.conftest import PASSWORD, Site, rescore
from warehouse import Warehouse

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
SHOTS = Path(__file__).parents[2] / "build" / "screenshots"
METER_ID = re.compile(r"PC\d{9}")
NOTE = "Đã kiểm tra tại chỗ: niêm phong còn nguyên, không phát hiện vi phạm — ổn định."
#: A page that draws its chart within this time [ms] (plotly.min.js is ~4 MB).
CHART_TIMEOUT = 30_000

# Statistics of a PNG as the browser decodes it: size, distinct colours, share of the
# commonest colour (a blank render is one colour).
_PNG_STATS = """async (url) => {
  const img = new Image();
  img.src = url;
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const g = canvas.getContext('2d', {willReadFrequently: true});
  g.drawImage(img, 0, 0);
  const pixels = new Uint32Array(g.getImageData(0, 0, canvas.width, canvas.height).data.buffer);
  const counts = new Map();
  for (const p of pixels) counts.set(p, (counts.get(p) || 0) + 1);
  let top = 0;
  for (const n of counts.values()) top = Math.max(top, n);
  return {width: canvas.width, height: canvas.height, distinct: counts.size,
          dominant: top / pixels.length};
}"""


# --- the browser ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, started by Playwright (never a downloaded browser)."""
    if not CHROMIUM.exists():
        pytest.fail("chromium not found: run `make .tools/chromium.ok` (part of `make test`)")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def decoder(browser: Browser) -> Iterator[Page]:
    """A blank page that decodes screenshots (no Pillow needed)."""
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


@dataclass
class Visit:
    """A browser context on the app, what its pages complained of, and the shots taken."""

    site: Site
    context: BrowserContext
    page: Page
    decoder: Page
    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    def goto(self, path: str, status: int = 200) -> None:
        """Open a path of the app; its answer must have ``status``."""
        response = self.page.goto(self.site.url + path)
        assert response is not None
        assert response.status == status, f"{path}: {response.status}"

    def log_in(self, role: str, *, shot: str | None = None) -> None:
        """Log in as the user of ``role`` through the login form; land on the dashboard."""
        self.goto("/login")
        expect(self.page.locator("h1")).to_have_text("Đăng nhập")
        form = self.page.locator("form[action='/login']")
        form.locator("input[name=username]").fill(self.site.users[role])
        form.locator("input[name=password]").fill(PASSWORD)
        if shot:
            self.shoot(shot)
        form.locator("button[type=submit]").click()
        self.page.wait_for_url(f"{self.site.url}/")
        expect(self.page.locator("#who")).to_contain_text(self.site.users[role])

    def log_out(self) -> None:
        """The header's log-out button; the session is then gone."""
        self.page.locator("form.who button[type=submit]").click()
        self.page.wait_for_url(f"{self.site.url}/login")
        self.goto("/")  # redirected to the login form
        assert urlparse(self.page.url).path == "/login"
        expect(self.page.locator("#who")).to_have_count(0)

    def chart_drawn(self, target: str) -> None:
        """Wait until app.js marks the Plotly chart ``target`` drawn; it has an SVG."""
        self.page.wait_for_selector(f'#{target}[data-drawn="true"]', state="attached",
                                    timeout=CHART_TIMEOUT)
        assert self.page.locator(f"#{target} svg.main-svg").count() >= 1

    def shoot(self, name: str) -> Path:
        """A full-page screenshot under build/screenshots, checked not to be blank."""
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        path.unlink(missing_ok=True)
        self.page.screenshot(path=str(path), full_page=True)
        check_screenshot(path, self.decoder)
        return path

    def clean(self) -> None:
        """No script error, no refused resource, nothing fetched from outside the app."""
        assert self.errors == [], self.errors
        assert self.outside == [], self.outside


#: Digest of every screenshot taken in this module → its name (no two pages alike).
_DIGESTS: dict[str, str] = {}


def check_screenshot(path: Path, decoder: Page) -> None:
    """The PNG exists, is > 10 kB, decodes to a 1400 px wide page of many colours."""
    assert path.is_file(), path
    body = path.read_bytes()
    assert len(body) > 10_000, f"{path.name}: {len(body)} bytes"
    assert body[:8] == b"\x89PNG\r\n\x1a\n", path.name
    stats = decoder.evaluate(_PNG_STATS,
                             "data:image/png;base64," + base64.b64encode(body).decode())
    assert stats["width"] == 1400, (path.name, stats)
    assert stats["height"] >= 1000, (path.name, stats)
    assert stats["distinct"] >= 50, (path.name, stats)  # text, borders, colours
    assert stats["dominant"] < 0.97, (path.name, stats)  # not a blank background
    digest = hashlib.sha256(body).hexdigest()
    assert digest not in _DIGESTS, f"{path.name} is the same picture as {_DIGESTS.get(digest)}"
    _DIGESTS[digest] = path.name


@pytest.fixture
def visit(browser: Browser, decoder: Page, site: Site) -> Iterator[Visit]:
    """A fresh browser context (no cookies), 1400×1000, Vietnamese locale."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="vi-VN",
                                  timezone_id="Asia/Ho_Chi_Minh")
    context.set_default_timeout(30_000)
    page = context.new_page()
    seen = Visit(site, context, page, decoder)

    def only_the_app(route: Route) -> None:
        if route.request.url.startswith(site.url + "/"):
            route.continue_()
        else:
            seen.outside.append(route.request.url)
            route.abort()

    def console(message: ConsoleMessage) -> None:
        # The browser logs every 4xx answer; the tests check those statuses themselves.
        if message.type == "error" and not message.text.startswith(
                "Failed to load resource: the server responded with a status of 4"):
            seen.errors.append(message.text)

    context.route("**/*", only_the_app)
    page.on("console", console)
    page.on("pageerror", lambda error: seen.errors.append(f"page error: {error}"))
    try:
        yield seen
    finally:
        context.close()


# --- reading the pages -----------------------------------------------------------------------
def vi_float(text: str) -> float | None:
    """``1.234.567,8`` → 1234567.8; ``—`` → None."""
    text = text.strip().removesuffix("%").strip()
    if text in {"", "—"}:
        return None
    return float(text.replace(".", "").replace(",", "."))


def table_rows(page: Page, selector: str) -> list[list[str]]:
    """The cells' text of a table's body rows."""
    rows: list[list[str]] = page.locator(f"{selector} tbody tr").evaluate_all(
        "rows => rows.map(r => Array.from(r.cells, c => c.innerText.trim()))")
    return rows


def query_of(page: Page) -> dict[str, list[str]]:
    """The current URL's query parameters (empty values left out)."""
    return parse_qs(urlparse(page.url).query)


def last_day(site: Site) -> date:
    """The last day of the province's data: the latest partition of gold anomaly_days."""
    return date.fromisoformat(
        Warehouse.at(site.settings.warehouse).partitions("anomaly_days", "date")[-1])


def score_of(site: Site, meter_id: str) -> dict[str, Any]:
    """The meter's row of gold anomaly_scores."""
    scores = Warehouse.at(site.settings.warehouse).scan("anomaly_scores").filter(
        pl.col("meter_id") == meter_id).collect()
    assert scores.height == 1, meter_id
    return scores.row(0, named=True)


def band_of(score: float) -> str:
    """The queue filter's score band holding ``score``."""
    return next(key for key, (_, low, high) in BANDS.items() if low <= score < high)


# --- the inspector's visit --------------------------------------------------------------------
def dashboard(visit: Visit) -> None:
    page = visit.page
    visit.chart_drawn("trend")
    expect(page.locator("h1")).to_contain_text("Tổn thất điện năng tháng")
    assert re.fullmatch(r"\d+,\d{2} %", page.locator("#province-loss").inner_text().strip())
    assert page.locator("#trend .scatterlayer .trace").count() >= 2  # province + branches
    assert table_rows(page, "#branches"), "the branches table is empty"
    for row in table_rows(page, "#branches"):
        assert re.fullmatch(r"-?\d+,\d{2} %", row[3]), row  # this month's rate, Vietnamese
        assert re.fullmatch(r"\d{1,3}(\.\d{3})*", row[1]), row  # kWh in, 1.234.567


def transformers(visit: Visit, site: Site) -> None:
    page = visit.page
    page.locator("header nav a[href='/transformers']").click()
    page.wait_for_url(f"{site.url}/transformers")
    rows = table_rows(page, "#transformers")
    assert rows
    assert [int(r[0]) for r in rows[:5]] == list(range(1, min(5, len(rows)) + 1))
    visit.shoot("transformers")
    visit.goto(f"/transformers/{site.transformer}")
    visit.chart_drawn("days")
    expect(page.locator("h1")).to_have_text(f"Trạm biến áp {site.transformer}")
    expect(page.locator(f"#meters a[href='/meters/{site.own_meter}']")).to_have_count(1)
    visit.shoot("transformer")


def submit_filter(visit: Visit, **choices: str) -> list[list[str]]:
    """Choose in the queue's filter form, submit it; the rows shown."""
    page = visit.page
    form = page.locator("#queue-filter")
    for name, value in choices.items():
        form.locator(f"select[name={name}]").select_option(value)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    query = query_of(page)
    assert urlparse(page.url).path == "/anomalies"
    for name, value in choices.items():
        assert query.get(name) == [value], (name, page.url)
    return table_rows(page, "#queue")


def queue(visit: Visit, site: Site) -> None:
    """Filter the queue by branch (by money, then by score band) and open the top meter."""
    page = visit.page
    page.locator("header nav a[href='/anomalies']").click()
    page.wait_for_url(f"{site.url}/anomalies")
    rows = submit_filter(visit, branch=site.branch, sort="vnd")
    assert rows and all(r[2] == site.branch for r in rows), "a row of another branch"
    money = [vi_float(r[7]) for r in rows]
    amounts = [-1.0 if m is None else m for m in money]
    assert amounts == sorted(amounts, reverse=True), "not sorted by VND"

    band = band_of(score_of(site, site.own_meter)["score"])
    _, low, high = BANDS[band]
    rows = submit_filter(visit, branch=site.branch, band=band, sort="score")
    assert rows and all(r[2] == site.branch for r in rows), "a row of another branch"
    assert all(low <= (vi_float(r[5]) or 0) < high + 0.0005 for r in rows), "score off band"
    ranks = [int(r[0].replace(".", "")) for r in rows]
    assert ranks == sorted(ranks)
    assert rows[0][1] == site.own_meter, "the branch's top meter heads its queue"
    assert site.other_meter not in page.content()
    expect(page.locator("#export")).to_have_attribute("href", re.compile(
        rf"branch={site.branch}.*band={band}"))
    visit.shoot("queue")
    with page.expect_navigation():
        page.locator("#queue tbody tr").first.locator(
            f"a[href='/meters/{site.own_meter}']").click()
    assert urlparse(page.url).path == f"/meters/{site.own_meter}"


def read_rank(visit: Visit) -> int:
    return int(visit.page.locator("#rank").inner_text().strip().replace(".", ""))


def inspect_meter(visit: Visit, site: Site, photo: str) -> int:
    """Read the meter page, record a "no_issue" inspection; the rank before it."""
    page = visit.page
    visit.chart_drawn("profile")
    expect(page.locator("h1")).to_have_text(f"Công tơ {site.own_meter}")
    rank = read_rank(visit)
    assert rank == score_of(site, site.own_meter)["rank"]
    assert page.locator("ul.reasons li").count() >= 1, "no reason listed"
    expect(page.locator("#saved")).to_have_count(0)
    visit.shoot("meter")

    day = last_day(site)
    form = page.locator("#inspection-form")
    form.locator("select[name=outcome]").select_option("no_issue")
    form.locator("input[name=inspected_on]").fill(day.strftime("%d/%m/%Y"))  # the form reads day/month/year
    form.locator("input[name=photo_ref]").fill(photo)
    form.locator("textarea[name=note]").fill(NOTE)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    assert page.url == f"{site.url}/meters/{site.own_meter}?saved=1"
    expect(page.locator("#saved")).to_be_visible()
    expect(page.locator("#saved")).to_contain_text("Đã lưu kết quả kiểm tra")
    row = page.locator("#inspections tbody tr", has_text=photo)
    expect(row).to_have_count(1)
    expect(row).to_contain_text(NOTE)
    expect(row).to_contain_text(site.users["inspector"])
    expect(row.locator("td").nth(1)).to_have_text(
        re.compile("không phát hiện vi phạm", re.IGNORECASE))
    expect(row.locator("td").first).to_contain_text(day.strftime("%d/%m/%Y"))
    visit.chart_drawn("profile")
    visit.shoot("meter_saved")
    return rank


def check_recorded(site: Site, photo: str) -> None:
    """The inspection is in gold ``inspections``, from the web, by the inspector."""
    table = read_inspections(Warehouse.at(site.settings.warehouse))
    assert table is not None, "gold inspections was not written"
    rows = table.filter(pl.col("photo_ref") == photo)
    assert rows.height == 1, rows
    row = rows.row(0, named=True)
    assert row["meter_id"] == site.own_meter
    assert row["source"] == "web"
    assert row["recorded_by"] == site.users["inspector"]
    assert row["outcome"] == "no_issue"
    assert row["note"] == NOTE
    local = row["inspected_at"].astimezone(site.settings.tz).date()
    assert local == last_day(site)


def rank_after_rescoring(visit: Visit, site: Site, before: int) -> int:
    """Score again; reload the meter page until the app's cache shows the new rank."""
    rescore(site.settings)
    new = score_of(site, site.own_meter)
    assert new["rank"] > before, f"the scorer kept the inspected meter at {new['rank']}"
    deadline = monotonic() + 3 * CHECK_SECONDS
    while True:
        visit.goto(f"/meters/{site.own_meter}")
        rank = read_rank(visit)
        if rank != before or monotonic() > deadline:
            break
        visit.page.wait_for_timeout(500)
    assert rank == new["rank"], f"the page still shows rank {rank} (gold: {new['rank']})"
    return rank


def test_inspector_records_an_inspection_that_moves_the_meter_down(
        visit: Visit, site: Site) -> None:
    visit.goto("/", status=200)  # the login form, after the redirect
    assert urlparse(visit.page.url).path == "/login"
    visit.log_in("inspector", shot="login")
    dashboard(visit)
    visit.shoot("dashboard")
    transformers(visit, site)
    queue(visit, site)
    photo = f"IMG_{uuid.uuid4().hex[:10]}"
    before = inspect_meter(visit, site, photo)
    check_recorded(site, photo)
    after = rank_after_rescoring(visit, site, before)
    assert after > before, f"rank {before} → {after}: the clean inspection did not count"
    visit.chart_drawn("profile")
    expect(visit.page.locator("#inspections tbody tr", has_text=photo)).to_have_count(1)
    visit.shoot("meter_rescored")
    visit.log_out()
    visit.clean()


# --- who sees what ----------------------------------------------------------------------------
def no_meter_id(visit: Visit) -> None:
    found = METER_ID.findall(visit.page.content())
    assert not found, f"{visit.page.url} shows meter ids {found[:3]}"


def test_viewer_sees_the_losses_but_no_meter(visit: Visit, site: Site) -> None:
    page = visit.page
    visit.log_in("inspector")
    visit.log_out()
    visit.log_in("viewer")
    visit.chart_drawn("trend")
    assert re.fullmatch(r"\d+,\d{2} %", page.locator("#province-loss").inner_text().strip())
    expect(page.locator("header nav a[href='/anomalies']")).to_have_count(0)
    no_meter_id(visit)
    visit.shoot("viewer_dashboard")

    visit.goto("/transformers")
    assert table_rows(page, "#transformers")
    no_meter_id(visit)
    visit.shoot("viewer_transformers")
    visit.goto(f"/transformers/{site.transformer}")
    visit.chart_drawn("days")
    expect(page.locator("#meters")).to_have_count(0)
    expect(page.locator("p.muted")).to_contain_text("Danh sách công tơ chỉ hiển thị")
    no_meter_id(visit)
    visit.shoot("viewer_transformer")

    visit.goto("/anomalies?branch=" + site.branch, status=403)
    expect(page.locator("h1")).to_have_text("Không có quyền")
    expect(page.locator("#queue")).to_have_count(0)
    no_meter_id(visit)
    visit.shoot("error_403")
    response = page.goto(f"{site.url}/meters/{site.own_meter}")
    assert response is not None and response.status in {403, 404}
    expect(page.locator("h1")).to_have_text(re.compile("Không có quyền|Không tìm thấy"))
    expect(page.locator("#inspection-form")).to_have_count(0)
    expect(page.locator("#rank")).to_have_count(0)
    assert page.request.get(f"{site.url}/anomalies.xlsx").status == 403
    visit.clean()


def test_inspector_of_another_branch_does_not_find_the_meter(
        visit: Visit, site: Site) -> None:
    page = visit.page
    visit.log_in("inspector_other")
    visit.goto(f"/meters/{site.other_meter}")  # their own branch's meter opens
    expect(page.locator("#inspection-form")).to_have_count(1)
    visit.goto(f"/meters/{site.own_meter}", status=404)
    expect(page.locator("h1")).to_have_text("Không tìm thấy")
    expect(page.locator("p.error")).to_have_text("Không tìm thấy công tơ.")
    expect(page.locator("#inspection-form")).to_have_count(0)
    assert site.own_meter not in page.locator("main").inner_text()
    visit.shoot("error_404")
    visit.goto("/anomalies")
    rows = table_rows(page, "#queue")
    assert rows and all(r[2] == site.other_branch for r in rows)
    assert site.own_meter not in page.content()
    visit.clean()
