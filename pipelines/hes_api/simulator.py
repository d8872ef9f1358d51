"""A small head-end (HES) REST API simulator serving a landing zone's interval readings.

For tests and demos only: it reads the ``readings*`` files of a landing folder written by
``ami.province`` once, sorts them by (interval_end, meter_id) and serves them by global row
index (the opaque cursor) behind a bearer token, with injectable faults (``Faults``).

``start_simulator`` runs it as its own process on 127.0.0.1, like a real head-end::

    python -m pipelines.hes_api.simulator --landing data/landing [--port 8765]

(the token comes from ``SOURCES__HES_API__TOKEN``). ``GET /_simulator`` reports the
request count and the faults; ``PUT /_simulator/faults`` changes them while it runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Annotated, Any

import polars as pl
import requests
import uvicorn
from fastapi import Body, FastAPI, Header, Query
from fastapi.responses import JSONResponse

from pipelines.hes_api.settings import COLUMNS, READINGS_PATH

#: Environment variable holding the bearer token (the same name dlt reads secrets from).
TOKEN_ENV = "SOURCES__HES_API__TOKEN"


@dataclass
class Faults:
    """Faults to inject; pages are numbered from 0 as ``since // limit``.

    Fields are read on every request, so a test may change them while the server runs
    (for example set ``fail_from_page`` back to None to heal the server).
    """

    fail_first: int = 0
    too_many_pages: set[int] = field(default_factory=set)
    slow_pages: dict[int, float] = field(default_factory=dict)  # page → seconds, once
    repeat_pages: set[int] = field(default_factory=set)
    fail_from_page: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The faults as JSON (sets become lists, page numbers text keys)."""
        return {"fail_first": self.fail_first, "too_many_pages": sorted(self.too_many_pages),
                "slow_pages": {str(k): v for k, v in self.slow_pages.items()},
                "repeat_pages": sorted(self.repeat_pages),
                "fail_from_page": self.fail_from_page}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Faults:
        """Faults from ``to_json``'s form."""
        return cls(fail_first=int(data.get("fail_first", 0)),
                   too_many_pages=set(data.get("too_many_pages", [])),
                   slow_pages={int(k): float(v) for k, v in data.get("slow_pages", {}).items()},
                   repeat_pages=set(data.get("repeat_pages", [])),
                   fail_from_page=data.get("fail_from_page"))


class _Feed:
    """The sorted readings and the fault bookkeeping shared by all requests."""

    def __init__(self, landing: Path, token: str, faults: Faults) -> None:
        files = sorted(p for p in Path(landing).glob("readings*") if p.is_file())
        if not files:
            raise FileNotFoundError(f"no readings* files in {landing}")
        frames = [pl.read_csv(p, infer_schema=False) if ".csv" in p.name
                  else pl.read_parquet(p).cast(pl.String) for p in files]
        frame = pl.concat([f.select(COLUMNS) for f in frames], how="vertical")
        # Columnar, and turned into JSON objects one page at a time.
        self.rows = frame.sort(["interval_end", "meter_id"], maintain_order=True)
        self.token, self.faults = token, faults
        self.requests = 0
        self.repeated: set[int] = set()
        self.lock = threading.Lock()


def build_app(landing: Path, *, token: str, faults: Faults) -> FastAPI:
    """The FastAPI application serving ``GET /api/v1/readings``."""
    feed = _Feed(landing, token, faults)
    app = FastAPI(title="HES simulator")
    app.state.feed = feed

    def authorized(header: str | None) -> bool:
        return header == f"Bearer {feed.token}"

    @app.get("/_simulator")
    def status(authorization: str | None = Header(None)) -> JSONResponse:
        if not authorized(authorization):
            return JSONResponse({"detail": "invalid or missing bearer token"}, status_code=401)
        return JSONResponse({"requests": feed.requests, "rows": feed.rows.height,
                             "faults": feed.faults.to_json()})

    @app.put("/_simulator/faults")
    def set_faults(body: Annotated[dict[str, Any], Body()],
                   authorization: str | None = Header(None)) -> JSONResponse:
        if not authorized(authorization):
            return JSONResponse({"detail": "invalid or missing bearer token"}, status_code=401)
        feed.faults = Faults.from_json(body)
        return JSONResponse(feed.faults.to_json())

    @app.get(READINGS_PATH)
    def readings(since: str = Query("0"), limit: int = Query(1000, ge=1),
                 authorization: str | None = Header(None)) -> JSONResponse:
        if not authorized(authorization):
            return JSONResponse({"detail": "invalid or missing bearer token"}, status_code=401)
        start = int(since)
        page = start // limit
        with feed.lock:
            feed.requests += 1
            n = feed.requests
            repeat = page - 1 in feed.faults.repeat_pages and page - 1 not in feed.repeated
            if repeat:
                feed.repeated.add(page - 1)
        faults = feed.faults
        if n <= faults.fail_first:
            return JSONResponse({"detail": "injected failure"}, status_code=500)
        if faults.fail_from_page is not None and page >= faults.fail_from_page:
            return JSONResponse({"detail": "injected outage"}, status_code=500)
        if page in faults.too_many_pages:
            faults.too_many_pages.discard(page)
            return JSONResponse({"detail": "slow down"}, status_code=429,
                                headers={"Retry-After": "1"})
        if page in faults.slow_pages:  # slow once, like a busy moment on the server
            time.sleep(faults.slow_pages.pop(page))
        if repeat:
            start = max(0, start - limit)
        end = min(start + limit, feed.rows.height)
        has_more = end < feed.rows.height
        items = feed.rows.slice(start, end - start).to_dicts()
        return JSONResponse({"cursor": str(start), "items": items,
                             "next_cursor": str(end) if has_more else None,
                             "has_more": has_more})

    return app


class _Server:
    """uvicorn serving ``app`` on 127.0.0.1 in a background thread."""

    def __init__(self, app: FastAPI, port: int) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True,
                                        name="hes-simulator")
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("HES simulator did not start")
            time.sleep(0.01)
        sock = self._server.servers[0].sockets[0]
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    def wait(self) -> None:
        """Serve until the process is told to stop."""
        self._thread.join()


class Simulator:
    """A simulator running as its own process; ``url`` is its base URL."""

    def __init__(self, landing: Path, *, token: str, faults: Faults, port: int = 0) -> None:
        env = {**os.environ, TOKEN_ENV: token}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "pipelines.hes_api.simulator", "--landing", str(landing),
             "--port", str(port), "--faults", json.dumps(faults.to_json())],
            stdout=subprocess.PIPE, text=True, env=env)
        assert self._process.stdout is not None
        line = self._process.stdout.readline().strip()
        if not line.startswith("http://127.0.0.1:"):
            self._process.kill()
            raise RuntimeError(f"HES simulator did not start (it said {line!r})")
        self.url = line
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"Bearer {token}"
        self._final: dict[str, Any] | None = None  # the last status, once stopped

    def _status(self) -> dict[str, Any]:
        if self._final is not None:
            return self._final
        response = self._session.get(f"{self.url}/_simulator", timeout=10)
        response.raise_for_status()
        status: dict[str, Any] = response.json()
        return status

    @property
    def faults(self) -> Faults:
        """The faults the server applies now."""
        return Faults.from_json(self._status()["faults"])

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self._session.put(f"{self.url}/_simulator/faults", json=faults.to_json(),
                          timeout=10).raise_for_status()

    @property
    def requests(self) -> int:
        """Readings requests served so far (including failed ones)."""
        return int(self._status()["requests"])

    @property
    def row_count(self) -> int:
        """How many readings the simulator serves."""
        return int(self._status()["rows"])

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self._process.pid

    def stop(self) -> None:
        """Stop the server process and wait for it (its last status stays readable)."""
        if self._final is None and self._process.poll() is None:
            self._final = self._status()
        self._session.close()
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def start_simulator(landing: Path, *, token: str, faults: Faults | None = None,
                    port: int = 0) -> Simulator:
    """Start the simulator process on 127.0.0.1 (``port`` 0: a free port)."""
    return Simulator(landing, token=token, faults=faults or Faults(), port=port)


def main(argv: list[str] | None = None) -> int:
    """Serve a landing zone's readings until stopped (SIGTERM or Ctrl-C)."""
    parser = argparse.ArgumentParser(prog="python -m pipelines.hes_api.simulator",
                                     description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--faults", default="{}", help="faults as JSON (see Faults)")
    args = parser.parse_args(argv)
    token = os.environ.get(TOKEN_ENV)
    if not token:
        print(f"set {TOKEN_ENV} to the bearer token clients must send", file=sys.stderr)
        return 2
    app = build_app(args.landing, token=token, faults=Faults.from_json(json.loads(args.faults)))
    server = _Server(app, args.port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(server.url, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
