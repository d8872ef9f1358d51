# Image for the production stack (docker-compose.yml): Airflow with the project installed.
FROM python:3.11-slim
ENV UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy PYTHONUNBUFFERED=1 \
    AIRFLOW_HOME=/opt/airflow VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
RUN pip install --no-cache-dir uv
WORKDIR /opt/ami
COPY pyproject.toml uv.lock README.md ./
RUN uv venv /opt/venv && uv sync --frozen --no-dev --no-install-project --active
COPY . .
RUN uv sync --frozen --no-dev --active
