"""Shared wiring for the DAGs: start date, tags, default arguments, error translation."""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from airflow.sdk.exceptions import AirflowFailException

from ami.errors import AmiError

T = TypeVar("T")


LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
START = datetime(2026, 1, 1, tzinfo=LOCAL_TZ)
TAGS = ["ami"]

#: Transient failures (a lock, a busy server) are retried; terminal ones fail fast.
DEFAULT_ARGS: dict[str, Any] = {"owner": "ami", "retries": 2, "retry_delay": 60}

#: Where the last task error is written for the runner to show (one line for people).
ERROR_FILE_ENV = "AMI_RUNNER_ERROR_FILE"


def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call into a project package; terminal project errors fail the task without retry."""
    try:
        return fn(*args, **kwargs)
    except AmiError as exc:
        _record(str(exc), transient=exc.transient)
        if exc.transient:
            raise
        raise AirflowFailException(str(exc)) from exc
    except Exception as exc:
        _record(f"{type(exc).__name__}: {exc}", transient=True,
                detail=traceback.format_exc())
        raise


def _record(message: str, *, transient: bool, detail: str = "") -> None:
    """Write the error where ``dags.runner`` can read it (embedded default only)."""
    target = os.environ.get(ERROR_FILE_ENV)
    if target:
        Path(target).write_text(
            json.dumps({"message": message, "transient": transient, "detail": detail}),
            encoding="utf-8",
        )
