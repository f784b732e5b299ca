"""Integration-test fixtures: the Godot project is imported once per run, before the first test
marked ``godot`` (Godot's scripts and class names need the import)."""

from __future__ import annotations

import pytest

from continuum.godot import import_project


@pytest.fixture(scope="session")
def imported_project() -> None:
    run = import_project()
    assert run.returncode == 0, run.output[-3000:]


@pytest.fixture(autouse=True)
def _import_for_godot_tests(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("godot") is not None:
        request.getfixturevalue("imported_project")
