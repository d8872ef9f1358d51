"""What every ``ami`` command shares: the terminal consoles, progress display and helpers."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ami.errors import ConfigError
from ami.settings import Settings

# Logs and CI are not terminals: give tables room rather than folding every cell.
console = Console(width=None if sys.stdout.isatty() else 132)
err = Console(stderr=True)


def new_progress() -> Progress:
    """A rich progress display for long steps."""
    return Progress(TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                    console=console, transient=False)


def log_path(settings: Settings, name: str) -> Path:
    """A fresh log file under ``data/logs``."""
    folder = settings.data_dir / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.log"
    path.write_text("", encoding="utf-8")
    return path


def num(value: float | None, digits: int = 0) -> str:
    """A number for the terminal, or a dash when absent."""
    return "—" if value is None else f"{value:,.{digits}f}"


def parse_day(text: str) -> date:
    """A YYYY-MM-DD option value."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{text!r} is not a date", fix="write YYYY-MM-DD, e.g. 2026-09-01") \
            from None
