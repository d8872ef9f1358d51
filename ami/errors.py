"""Typed exceptions for the whole project.

Terminal errors are bad input or configuration: retrying cannot help, so Airflow tasks
fail fast. Transient errors (a server busy, a lock held) may succeed on retry. Every
message says what is wrong, where (file, row, column) and how to fix it.
"""

from __future__ import annotations


class AmiError(Exception):
    """Base of all project errors; ``str()`` is a one-line message for people."""

    transient: bool = False

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        self.message = message
        self.fix = fix
        super().__init__(f"{message} — {fix}" if fix else message)


class TerminalError(AmiError):
    """Retrying will not help: the input or the configuration must change."""


class TransientError(AmiError):
    """May succeed on retry (busy resource, lock held, server unavailable)."""

    transient = True


class InputError(TerminalError):
    """Bad input data, located as precisely as we can (file, row, column)."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.file, self.row, self.column = file, row, column
        where = ", ".join(
            part
            for part in (
                f"file {file}" if file else "",
                f"row {row}" if row is not None else "",
                f"column {column!r}" if column else "",
            )
            if part
        )
        super().__init__(f"{where}: {message}" if where else message, fix=fix)


class NoDataError(TerminalError):
    """The requested period or location holds no data."""


class ConfigError(TerminalError):
    """A setting or a command-line option is wrong."""


class QualityGateError(TerminalError):
    """A data-quality gate blocked a partition at a layer boundary (policy "block")."""

    def __init__(self, message: str, *, suite: str, day: str, docs_path: str,
                 fix: str | None = None) -> None:
        self.suite, self.day, self.docs_path = suite, day, docs_path
        super().__init__(message, fix=fix)
