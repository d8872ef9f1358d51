"""The one settings object: defaults as the README's Configuration lists them, env overrides, frozen."""

from datetime import time

import pydantic
import pytest

from ami.settings import Settings


def test_defaults_follow_the_plan() -> None:
    s = Settings()
    assert (s.loss_target_pct, s.loss_stretch_pct) == (6.0, 3.0)
    assert (s.peak_start, s.peak_end) == (time(17, 30), time(22, 30))
    assert s.tz.key == "Asia/Ho_Chi_Minh"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMI_LOSS_TARGET_PCT", "5.5")
    monkeypatch.setenv("AMI_WAREHOUSE", "/srv/wh")
    s = Settings()
    assert s.loss_target_pct == 5.5
    assert s.warehouse == "/srv/wh"


def test_frozen() -> None:
    s = Settings()
    with pytest.raises(pydantic.ValidationError):
        s.loss_target_pct = 1.0  # type: ignore[misc]


def test_unknown_zone_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMI_TIMEZONE", "Mars/Olympus")
    with pytest.raises(pydantic.ValidationError):
        Settings()


def test_the_dag_environment_round_trips_the_settings(tmp_path, monkeypatch) -> None:
    from ami.orchestrate import airflow_env

    original = Settings(warehouse=str(tmp_path / "wh"), loss_target_pct=5.0)
    env = airflow_env(settings=original)
    for key in [k for k in list(__import__("os").environ) if k.startswith("AMI_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("AMI_") and key != "AMI_RUNNER_ERROR_FILE":
            monkeypatch.setenv(key, value)
    assert Settings() == original  # unset options (None) stay unset, not the text "None"
