"""Integration-test fixtures: the Godot project is imported once per run, before the first test
marked ``godot`` (Godot's scripts and class names need the import)."""

from __future__ import annotations

import pytest

from continuum.godot import import_project, run_godot


@pytest.fixture(scope="session")
def imported_project() -> None:
    run = import_project()
    assert run.returncode == 0, run.output[-3000:]


@pytest.fixture(autouse=True)
def _import_for_godot_tests(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("godot") is not None:
        request.getfixturevalue("imported_project")


def run_probe(
    script: str, port: int, scenario: str, *extra: str, timeout_s: float = 90
) -> tuple[int, dict, str]:
    """Run a probe script (``res://tests/integration/...``) against the backend on ``port``:
    its exit status, its last ``CONTINUUM_RESULT`` and its whole output."""
    run = run_godot(
        ["--script", script],
        user_args=[f"--continuum-port={port}", f"--scenario={scenario}", *extra],
        timeout_s=timeout_s,
    )
    results = run.results("CONTINUUM_RESULT")
    assert results, f"no result from the probe (exit {run.returncode}):\n{run.output[-3000:]}"
    return run.returncode, results[-1], run.output
