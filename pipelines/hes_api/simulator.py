"""A small head-end (HES) REST API simulator serving a landing zone's interval readings.

For tests and demos only: it reads the ``readings*`` files of a landing folder written by
``ami.province`` once, sorts them by (interval_end, meter_id) and serves them by global row
index (the opaque cursor) behind a bearer token, with injectable faults (``Faults``). It
runs uvicorn on 127.0.0.1 in a background thread (``start_simulator``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import polars as pl
import uvicorn
from fastapi import FastAPI, Header, Query
from fastapi.responses import JSONResponse

from pipelines.hes_api.settings import COLUMNS, READINGS_PATH


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

    @app.get(READINGS_PATH)
    def readings(since: str = Query("0"), limit: int = Query(1000, ge=1),
                 authorization: str | None = Header(None)) -> JSONResponse:
        if authorization != f"Bearer {feed.token}":
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


class Simulator:
    """A running simulator; ``url`` is its base URL, ``stop()`` shuts it down."""

    def __init__(self, app: FastAPI, port: int) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True,
                                        name="hes-simulator")
        self.app = app
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("HES simulator did not start")
            time.sleep(0.01)
        sock = self._server.servers[0].sockets[0]
        self.port: int = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def faults(self) -> Faults:
        """The live fault configuration."""
        faults: Faults = self.app.state.feed.faults
        return faults

    @property
    def row_count(self) -> int:
        """How many readings the simulator serves."""
        count: int = self.app.state.feed.rows.height
        return count

    def stop(self) -> None:
        """Shut the server down and wait for its thread."""
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def start_simulator(landing: Path, *, token: str, faults: Faults | None = None,
                    port: int = 0) -> Simulator:
    """Start the simulator on 127.0.0.1 (``port`` 0: a free port) in a background thread."""
    return Simulator(build_app(landing, token=token, faults=faults or Faults()), port)
