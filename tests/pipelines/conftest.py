"""Fixtures of the pipeline tests: a real PostgreSQL server for the CMIS source."""

from collections.abc import Iterator

import pytest

from tests.pipelines.pg import postgres_server


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of a throw-away PostgreSQL server on 127.0.0.1 (session-wide)."""
    with postgres_server() as url:
        yield url
