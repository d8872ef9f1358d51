"""Exclusive locks between processes on this machine (released by the kernel on death)."""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ami.errors import TransientError


@contextmanager
def exclusive(path: Path, what: str, *, timeout: float) -> Iterator[None]:
    """Hold the lock file ``path``; wait up to ``timeout`` seconds, then fail clearly.

    ``what`` names the work holding it, for the message ("writing silver/readings …").
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TransientError(
                        f"another process has been {what} for over {timeout:.0f} s "
                        f"(lock {path})", fix="retry in a moment") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
