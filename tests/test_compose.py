"""docker-compose.yml cannot run here (no Docker engine): check it by parsing."""

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def test_production_stack_has_every_part(compose: dict) -> None:
    services = compose["services"]
    for name in ("postgres", "redis", "minio", "airflow-scheduler", "airflow-apiserver",
                 "airflow-dag-processor", "airflow-worker", "review-app"):
        assert name in services, name
    assert services["airflow-worker"]["deploy"]["replicas"] >= 2


def test_airflow_runs_celery_on_postgres_and_redis(compose: dict) -> None:
    env = compose["services"]["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis")
    assert env["AMI_WAREHOUSE"].startswith("s3://")
    assert Path(ROOT, env["AIRFLOW__CORE__DAGS_FOLDER"].removeprefix("/opt/ami/")).is_dir()


def test_published_ports_are_loopback_only(compose: dict) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port}"


def test_no_secret_in_the_file() -> None:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    for line in text.splitlines():
        if any(k in line for k in ("PASSWORD:", "SECRET", "SECRET_ACCESS_KEY:")):
            assert "${" in line or line.strip().startswith("#"), line


def test_commands_exist_in_the_cli(compose: dict) -> None:
    from ami.cli import app

    names = {c.name or c.callback.__name__ for c in app.registered_commands}
    names |= {g.name for g in app.registered_groups}
    command = compose["services"]["review-app"]["command"]
    assert command[0] == "ami" and command[1] in names


def test_review_app_runs_with_the_settings_of_ami_app(compose: dict) -> None:
    from ami.settings import Settings

    env = compose["services"]["review-app"]["environment"]
    settings = Settings(**{k.removeprefix("AMI_").lower(): v for k, v in env.items()
                           if k.startswith("AMI_APP_")})
    assert settings.app_db_url.startswith("postgresql+psycopg2://")
    assert settings.app_secure_cookies is True
    assert settings.app_port == 8000
    assert compose["services"]["review-app"]["ports"] == ["127.0.0.1:8000:8000"]
    assert env["AMI_WAREHOUSE"].startswith("s3://")  # the same warehouse as the DAGs
