"""The chain's declaration: the README shows it, and its functions exist."""

from pathlib import Path

import pytest

from ami.chain import STAGES, function, markdown_table

README = Path(__file__).resolve().parents[1] / "README.md"
STEPS = [step for stage in STAGES for step in stage.steps]


def test_the_readme_shows_the_declared_chain() -> None:
    assert markdown_table() in README.read_text(encoding="utf-8")


@pytest.mark.parametrize("step", STEPS, ids=lambda s: s.name)
def test_every_function_a_step_names_exists(step: object) -> None:
    for reference in (step.run, step.pending, step.gate):  # type: ignore[attr-defined]
        if reference:
            assert callable(function(reference)), reference


def test_step_names_are_unique_task_ids() -> None:
    for stage in STAGES:
        names = [s.name for s in stage.steps]
        assert len(names) == len(set(names)), stage.dag_id


@pytest.mark.parametrize("step", [s for s in STEPS if s.pending], ids=lambda s: s.name)
def test_a_step_with_units_shows_people_a_vietnamese_label(step: object) -> None:
    label = step.label  # type: ignore[attr-defined]
    assert label and any(c in label for c in "ăâđêôơưáàảãạếềệốồộớờợứừự"), label
