# Two commands do all the set-up on a machine with only Python, pip and make:
#   make demo   — build .venv from uv.lock, then run the whole chain on a synthetic province
#   make test   — build .venv from uv.lock, then lint, type-check and run the tests
PYTHON ?= python3
VENV   := .venv
UV     := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy

.PHONY: demo app test test-fast lint bench clean

# uv itself, installed with pip into a private folder when the machine has none.
.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv

# The project environment, exactly as locked.
$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

# PostgreSQL server binaries (Debian's package) for the real-server integration tests.
.tools/postgresql.ok:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; \
	fi
	@mkdir -p .tools && touch $@

# Headless Chromium (Debian's package) for the test that opens the Data Docs in a browser.
.tools/chromium.ok:
	@if [ ! -x /usr/bin/chromium ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi
	@mkdir -p .tools && touch $@

demo: $(VENV)/.synced
	$(VENV)/bin/ami demo

# The review app on http://127.0.0.1:8000/ over ./data (users: see the end of `make demo`).
app: $(VENV)/.synced
	$(VENV)/bin/ami app

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: lint .tools/postgresql.ok .tools/chromium.ok
	$(VENV)/bin/pytest

test-fast: $(VENV)/.synced
	$(VENV)/bin/pytest -m "not slow"

bench: $(VENV)/.synced
	$(VENV)/bin/python -m benchmarks.run
	$(VENV)/bin/python -m benchmarks.app

clean:
	rm -rf data .pytest_cache .mypy_cache .ruff_cache
