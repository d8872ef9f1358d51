"""Benchmark the review app over the gold tables of a 300,000-meter province.

    python -m benchmarks.app [--source WAREHOUSE] [--factor 100] [--requests 200] [--keep]

Steps: a scored 3,000-meter, 61-day province is built through the chain's own steps
(generate → ingest → VEE → gold → ``ami_anomalies``), unless ``--source`` names a warehouse
that has one (the demo's ``data/warehouse``); its app tables are tiled ``--factor`` times
(``benchmarks.app_gold``) into a temporary warehouse; the app runs under uvicorn on
127.0.0.1 in its own process, with a temporary SQLite user database holding an admin, an
inspector of one branch and a viewer. Each route is requested once (the first request
builds the cached province-wide frames: "first request") and then by ``--clients``
threads (httpx, loopback) until ``--requests`` answers or ``--seconds`` have passed,
whichever comes first. Meter and transformer ids are drawn at random per request from
the tiled tables, so a meter's own reads are never answered from a cache.

Server time is the ``Server-Timing: app;dur=`` header the app sets on every response (the
time from the app's middleware receiving the request to the response, thread-pool wait
included); client time is the wall time httpx saw. Peak memory is the server process's
high-water resident set (``VmHWM``). The table goes into the README between the
``app-bench`` markers (issue target: every page and API call ≤ 300 ms server time at
the 95th percentile); each route is also printed as a JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 300.0
PASSWORD = "mật-khẩu-đo-hiệu-năng"
USERS = {"admin": "bench_admin", "inspector": "bench_inspector", "viewer": "bench_viewer"}

#: Builds the scored source province in its own process (argv: root).
BUILD_SOURCE = (
    "import sys; from pathlib import Path\n"
    "from ami.orchestrate import run_chain_direct, run_stages\n"
    "from ami.province import ProvinceSpec, generate_province\n"
    "from ami.settings import Settings\n"
    "root = Path(sys.argv[1])\n"
    "s = Settings(data_dir=root, landing=str(root / 'landing'),"
    " warehouse=str(root / 'warehouse'), truth_dir=root / 'truth',"
    " reports_dir=root / 'reports', airflow_home=root / 'airflow')\n"
    "generate_province(ProvinceSpec(meters=3000, days=61), Path(s.landing), s.truth_dir)\n"
    "run_chain_direct(s.landing, settings=s)\n"
    "run_stages(('ami_anomalies',), settings=s)\n"
)


# --- the ids requests draw from -----------------------------------------------------------
@dataclass(frozen=True)
class Ids:
    """What the routes need from the tiled warehouse."""

    meters: int                  # customer meters in the warehouse
    days: int                    # days of anomaly_days
    branch: str                  # the inspector's branch (that of the top-ranked meter)
    branch_meters: list[str]     # its customer meters
    transformers: list[str]      # every transformer
    branch_transformer_pages: int
    reason: str                  # the commonest reason code


def read_ids(warehouse: str) -> Ids:
    """The ids of the tiled warehouse (read once, before the server starts)."""
    from warehouse import Warehouse

    wh = Warehouse.at(warehouse)
    meters = (wh.scan("meters").sort("meter_id", "valid_from")
              .group_by("meter_id", maintain_order=True).last()
              .select("meter_id", "meter_role", "transformer_id", "branch_id").collect())
    scores = wh.scan("anomaly_scores").select("meter_id", "rank", "reason_codes").collect()
    top = scores.sort("rank").row(0, named=True)["meter_id"]
    branch = meters.filter(pl.col("meter_id") == top)["branch_id"][0]
    customers = meters.filter(pl.col("meter_role") == "customer")
    transformers = meters.drop_nulls("transformer_id").group_by("transformer_id").agg(
        pl.col("branch_id").mode().first())
    in_branch = transformers.filter(pl.col("branch_id") == branch).height
    reason = (scores["reason_codes"].explode().drop_nulls().value_counts(sort=True)
              [0, 0])
    return Ids(meters=customers.height,
               days=len(wh.partitions("anomaly_days", "date")),
               branch=branch,
               branch_meters=customers.filter(pl.col("branch_id") == branch)["meter_id"]
               .to_list(),
               transformers=transformers["transformer_id"].to_list(),
               branch_transformer_pages=max(1, -(-in_branch // 50)),
               reason=str(reason))


# --- the routes ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Route:
    """One measured route: who asks, and the request of the n-th call."""

    name: str
    role: str | None            # None: anonymous
    request: Callable[[random.Random], tuple[str, str, dict[str, Any]]]
    share: float = 1.0          # of --requests (the export and the writes ask fewer)


def routes(ids: Ids) -> list[Route]:
    """Every page and API call of the app, with the parameters that cost the most."""
    b = ids.branch

    def get(path: str) -> Callable[[random.Random], tuple[str, str, dict[str, Any]]]:
        return lambda _: ("GET", path, {})

    def meter(prefix: str) -> Callable[[random.Random], tuple[str, str, dict[str, Any]]]:
        return lambda r: ("GET", f"{prefix}/{r.choice(ids.branch_meters)}", {})

    def transformer(prefix: str) -> Callable[[random.Random], tuple[str, str, dict[str, Any]]]:
        return lambda r: ("GET", f"{prefix}/{r.choice(ids.transformers)}", {})

    deep = max(1, ids.branch_transformer_pages * 3 // 4)
    last_page = max(1, len(ids.transformers) // 50)
    inspection = {"outcome": "no_issue", "inspected_on": "2026-10-30",
                  "note": "benchmark"}
    return [
        Route("GET /login", None, get("/login")),
        Route("POST /login (argon2 check, new session)", "login", lambda _: ("LOGIN", "", {}),
              share=0.1),
        Route("GET / (dashboard)", "viewer", get("/")),
        Route("GET /transformers", "viewer", get("/transformers")),
        Route(f"GET /transformers?branch=…&page={deep}", "viewer",
              get(f"/transformers?branch={b}&page={deep}")),
        Route(f"GET /transformers?page={last_page} (last)", "viewer",
              get(f"/transformers?page={last_page}")),
        Route("GET /transformers/{id} (admin: with meters)", "admin",
              transformer("/transformers")),
        Route("GET /anomalies (admin, all branches)", "admin", get("/anomalies")),
        Route("GET /anomalies?branch=…&band=high (inspector)", "inspector",
              get(f"/anomalies?branch={b}&band=high")),
        Route("GET /anomalies?sort=vnd", "admin", get("/anomalies?sort=vnd")),
        Route(f"GET /anomalies?reason={ids.reason}&sort=vnd", "admin",
              get(f"/anomalies?reason={ids.reason}&sort=vnd")),
        Route("GET /anomalies?page=3000", "admin", get("/anomalies?page=3000")),
        Route("GET /meters/{id} (random meter of the branch)", "inspector",
              meter("/meters")),
        Route("GET /anomalies.xlsx (export, 2,000 rows)", "admin", get("/anomalies.xlsx"),
              share=0.1),
        Route("GET /anomalies.xlsx?branch=…&band=high", "inspector",
              get(f"/anomalies.xlsx?branch={b}&band=high"), share=0.1),
        Route("GET /users (admin)", "admin", get("/users")),
        Route("GET /api (route list)", "viewer", get("/api")),
        Route("GET /api/me", "inspector", get("/api/me")),
        Route("GET /api/months", "viewer", get("/api/months")),
        Route("GET /api/dashboard", "viewer", get("/api/dashboard")),
        Route("GET /api/transformers", "viewer", get("/api/transformers")),
        Route(f"GET /api/transformers?branch=…&page={deep}", "viewer",
              get(f"/api/transformers?branch={b}&page={deep}")),
        Route("GET /api/transformers/{id} (admin)", "admin", transformer("/api/transformers")),
        Route("GET /api/anomalies (admin)", "admin", get("/api/anomalies")),
        Route("GET /api/anomalies?branch=…&band=high (inspector)", "inspector",
              get(f"/api/anomalies?branch={b}&band=high")),
        Route("GET /api/anomalies?sort=vnd&page=3000", "admin",
              get("/api/anomalies?sort=vnd&page=3000")),
        Route("GET /api/meters/{id}", "inspector", meter("/api/meters")),
        Route("GET /api/users (admin)", "admin", get("/api/users")),
        Route("GET /api/openapi.json", None, get("/api/openapi.json")),
        # Last: a write changes what the meter pages read (gold inspections).
        Route("POST /api/meters/{id}/inspections", "inspector",
              lambda r: ("POST", f"/api/meters/{r.choice(ids.branch_meters)}/inspections",
                         {"json": inspection}), share=0.1),
    ]


# --- the server ---------------------------------------------------------------------------
def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(warehouse: str, root: Path, port: int) -> subprocess.Popen[bytes]:
    """The app under uvicorn in its own process (one worker, as ``ami app`` runs it)."""
    env = {**os.environ, "AMI_WAREHOUSE": warehouse, "AMI_DATA_DIR": str(root / "data"),
           "AMI_APP_DB": f"sqlite:///{root / 'app.db'}", "AMI_APP_SECURE_COOKIES": "false"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
         "--no-access-log"], cwd=ROOT, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the app exited with status {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/login", timeout=5).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the app did not start on 127.0.0.1 within 120 s")


def peak_rss_gb(pid: int) -> float:
    """The process's high-water resident set [GB] (Linux ``VmHWM``)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return float("nan")
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
    return int(found.group(1)) / 1024 / 1024 if found else float("nan")


def login(url: str, username: str) -> tuple[httpx.Client, float, float]:
    """A client logged in as ``username`` and the POST's server and client ms."""
    client = httpx.Client(base_url=url, timeout=120)
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    if token is None:
        raise SystemExit("the login form has no CSRF token")
    start = time.perf_counter()
    answer = client.post("/login", data={"username": username, "password": PASSWORD,
                                         "csrf_token": token.group(1), "next": "/"})
    wall = (time.perf_counter() - start) * 1000
    if answer.status_code != 303:
        raise SystemExit(f"login of {username} failed: {answer.status_code}")
    return client, server_ms(answer), wall


def server_ms(response: httpx.Response) -> float:
    """The app's own time of a response (its Server-Timing header) [ms]."""
    found = re.search(r"app;dur=([\d.]+)", response.headers.get("server-timing", ""))
    if found is None:
        raise SystemExit(f"no Server-Timing on {response.request.url}")
    return float(found.group(1))


# --- the load -----------------------------------------------------------------------------
@dataclass
class Result:
    """Timings of one route."""

    route: Route
    first_ms: float = float("nan")
    server: list[float] = field(default_factory=list)
    client: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


def call(url: str, cookies: dict[str, httpx.Cookies], client: httpx.Client, route: Route,
         rng: random.Random) -> tuple[float, float]:
    """One request of the route; (server ms, client ms). Raises on an unexpected status."""
    method, path, options = route.request(rng)
    if method == "LOGIN":
        fresh, server, wall = login(url, USERS["admin"])
        fresh.close()
        return server, wall
    headers = {}
    if method == "POST":
        headers["X-CSRF-Token"] = cookies["inspector_csrf"].get("token") or ""
    start = time.perf_counter()
    answer = client.request(method, path, headers=headers, **options)
    wall = (time.perf_counter() - start) * 1000
    if answer.status_code not in (200, 201):
        raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.text[:200]}")
    return server_ms(answer), wall


def load(url: str, cookies: dict[str, httpx.Cookies], route: Route, *, requests: int,
         seconds: float, clients: int, seed: int) -> Result:
    """The route under ``clients`` threads until ``requests`` answers or ``seconds``."""
    result = Result(route)
    wanted = max(1, round(requests * route.share))
    lock = threading.Lock()
    issued = 0
    deadline = time.monotonic() + seconds

    def worker(n: int) -> None:
        nonlocal issued
        rng = random.Random(seed * 1000 + n)
        with httpx.Client(base_url=url, timeout=120,
                          cookies=cookies.get(route.role or "")) as client:
            while time.monotonic() < deadline:
                with lock:
                    if issued >= wanted:
                        return
                    issued += 1
                try:
                    server, wall = call(url, cookies, client, route, rng)
                except (RuntimeError, httpx.HTTPError) as exc:
                    with lock:
                        result.errors.append(str(exc))
                    continue
                with lock:
                    result.server.append(server)
                    result.client.append(wall)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.seconds = time.perf_counter() - started
    return result


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def summary(result: Result) -> dict[str, Any]:
    """One route's line of the table."""
    return {"route": result.route.name, "requests": len(result.server),
            "errors": len(result.errors), "seconds": round(result.seconds, 1),
            "first_ms": round(result.first_ms, 1),
            "p50_ms": round(percentile(result.server, 50), 1),
            "p95_ms": round(percentile(result.server, 95), 1),
            "max_ms": round(max(result.server, default=float("nan")), 1),
            "client_p95_ms": round(percentile(result.client, 95), 1),
            "ok": percentile(result.server, 95) <= TARGET_MS and not result.errors}


# --- the README ---------------------------------------------------------------------------
def write_table(lines: list[dict[str, Any]], note: str) -> None:
    """Replace the README's app table between the app-bench markers."""
    readme = ROOT / "README.md"
    table = ["| route | requests | first request (cache build) ms | p50 ms | p95 ms | max ms "
             "| client p95 ms | ≤ 300 ms at p95? |", "|---|---:|---:|---:|---:|---:|---:|---|"]
    for s in lines:
        errors = f" ({s['errors']} errors)" if s["errors"] else ""
        table.append(f"| `{s['route']}` | {s['requests']}{errors} | {s['first_ms']:,.0f} | "
                     f"{s['p50_ms']:,.0f} | {s['p95_ms']:,.0f} | {s['max_ms']:,.0f} | "
                     f"{s['client_p95_ms']:,.0f} | {'yes' if s['ok'] else '**no**'} |")
    text = readme.read_text(encoding="utf-8")
    if "<!-- app-bench:start -->" not in text:
        raise SystemExit("README.md has no <!-- app-bench:start --> marker")
    text = re.sub(r"<!-- app-bench:start -->.*<!-- app-bench:end -->",
                  lambda _: "<!-- app-bench:start -->\n" + "\n".join(table) + "\n\n"
                  + textwrap.fill(note, width=90, break_on_hyphens=False)
                  + "\n<!-- app-bench:end -->", text, flags=re.S)
    readme.write_text(text, encoding="utf-8")


def machine() -> str:
    """Cores and memory of this machine."""
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
                 .group(1))  # type: ignore[union-attr]
        memory = f", {kb / 1024 / 1024:.0f} GB"
    except (OSError, AttributeError):
        memory = ""
    return f"{os.cpu_count()} cores{memory}, {platform.system()} {platform.machine()}"


# --- main ---------------------------------------------------------------------------------
def run(ids: Ids, warehouse: str, root: Path, args: argparse.Namespace
        ) -> tuple[list[dict[str, Any]], float]:
    """Serve the warehouse and load every route; (a line per route, peak memory [GB])."""
    from app.users import UserStore

    store = UserStore(f"sqlite:///{root / 'app.db'}")
    store.create_user(USERS["admin"], PASSWORD, role="admin", replace=True)
    store.create_user(USERS["inspector"], PASSWORD, role="inspector",
                      branches=(ids.branch,), replace=True)
    store.create_user(USERS["viewer"], PASSWORD, role="viewer", replace=True)
    store.engine.dispose()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(warehouse, root, port)
    try:
        cookies: dict[str, httpx.Cookies] = {}
        for role, name in USERS.items():
            client, _, _ = login(url, name)
            cookies[role] = httpx.Cookies(client.cookies)
            if role == "inspector":
                cookies["inspector_csrf"] = httpx.Cookies(
                    {"token": client.get("/api/me").json()["csrf_token"]})
            client.close()
        all_routes = routes(ids)
        results = [Result(r) for r in all_routes]
        # Warm-up: one request per route, in order; the first builds the cached frames.
        rng = random.Random(0)
        for result in results:
            with httpx.Client(base_url=url, timeout=300,
                              cookies=cookies.get(result.route.role or "")) as client:
                server_t, _ = call(url, cookies, client, result.route, rng)
            result.first_ms = server_t
            print(json.dumps({"warm_up": result.route.name, "server_ms": round(server_t, 1)}),
                  flush=True)
        lines = []
        for n, result in enumerate(results):
            measured = load(url, cookies, result.route, requests=args.requests,
                            seconds=args.seconds, clients=args.clients, seed=n + 1)
            measured.first_ms = result.first_ms
            line = summary(measured)
            lines.append(line)
            print(json.dumps(line, ensure_ascii=False), flush=True)
            if measured.errors:
                print(json.dumps({"route": result.route.name,
                                  "first_error": measured.errors[0]}, ensure_ascii=False),
                      flush=True)
        return lines, peak_rss_gb(server.pid)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.app", description=__doc__
                                     .split("\n\n")[0])
    parser.add_argument("--source", help="a warehouse with a scored province to tile "
                                         "(default: build a 3,000-meter, 61-day one)")
    parser.add_argument("--factor", type=int, default=100,
                        help="copies of the source's meters (default 100: 300,000 meters)")
    parser.add_argument("--requests", type=int, default=200,
                        help="requests per route (the export and writes: a tenth)")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="at most this long per route [s]")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads")
    parser.add_argument("--tiled", help="an already tiled warehouse to serve (skips the "
                                        "build and the tiling; it is written to by the "
                                        "inspection route)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="ami-app-bench-"))
    steps: dict[str, float] = {}
    try:
        if args.tiled:
            warehouse = args.tiled
        else:
            source = args.source
            if source is None:
                start = time.perf_counter()
                subprocess.run([sys.executable, "-c", BUILD_SOURCE, str(root / "source")],
                               cwd=ROOT, check=True)
                steps["source province (3,000 meters × 61 d, chain + scoring)"] = (
                    time.perf_counter() - start)
                source = str(root / "source" / "warehouse")
            warehouse = str(root / "warehouse")
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "benchmarks.app_gold", source, warehouse,
                            "--factor", str(args.factor)], cwd=ROOT, check=True)
            steps[f"tiling ×{args.factor}"] = time.perf_counter() - start
        ids = read_ids(warehouse)
        print(json.dumps({"meters": ids.meters, "days": ids.days, "branch": ids.branch,
                          "branch_meters": len(ids.branch_meters),
                          "transformers": len(ids.transformers), **{
                              k: round(v, 1) for k, v in steps.items()}},
                         ensure_ascii=False), flush=True)
        start = time.perf_counter()
        load_before = os.getloadavg()[0]
        lines, peak = run(ids, warehouse, root, args)
        load_after = os.getloadavg()[0]
        steps["requests"] = time.perf_counter() - start
    finally:
        if args.keep:
            print(f"kept {root}", flush=True)
        else:
            shutil.rmtree(root, ignore_errors=True)
    total = time.perf_counter() - began
    missed = [s["route"] for s in lines if not s["ok"]]
    command = " ".join(["python -m benchmarks.app",
                        *([f"--source {args.source}"] if args.source else []),
                        f"--factor {args.factor}", f"--requests {args.requests}"])
    note = (
        f"{ids.meters:,} customer meters × {ids.days} days of gold "
        f"({len(ids.transformers):,} transformers; the inspector's branch {ids.branch} has "
        f"{len(ids.branch_meters):,} meters), tiled ×{args.factor} from a scored province; "
        f"one uvicorn process on 127.0.0.1, {args.clients} client threads on the same "
        f"machine ({machine()}), each route until {args.requests} answers (a tenth for the "
        f"export, login and inspection) or {args.seconds:.0f} s. Server time: the app's "
        f"`Server-Timing` header (thread-pool wait included). Load average "
        f"{load_before:.1f} before the requests, {load_after:.1f} after (other jobs on the "
        f"machine add to it). Peak memory of the app process: {peak:.2f} GB. "
        + ("**Every route is within 300 ms at p95.** " if not missed else
           f"**{len(missed)} route(s) miss 300 ms at p95.** ")
        + f"Whole run {total:,.0f} s ("
        + ", ".join(f"{k} {v:,.0f} s" for k, v in steps.items())
        + f"). Command: `{command}`, {time.strftime('%Y-%m-%d')}.")
    write_table(lines, note)
    print(json.dumps({"peak_rss_gb": round(peak, 2), "seconds": round(total, 1),
                      "load_average": [round(load_before, 2), round(load_after, 2)],
                      "missed": missed, **{k: round(v, 1) for k, v in steps.items()}},
                     ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
