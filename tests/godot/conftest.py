"""Fixtures of the Godot tests: one imported copy of the project per session (see engine.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .engine import GodotProject, godot_binary


@pytest.fixture(scope="session")
def imported_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GodotProject, set[str]]]:
    """The project copy after `--import`, and the files the import added beside the scripts."""
    project = GodotProject.copy_of(godot_binary(), tmp_path_factory.mktemp("godot"))
    before = project.files()
    # The first run of a project builds Godot's global class cache (class_name lookups).
    run = project.run("--headless", "--import", timeout=300)
    assert run.returncode == 0, run.output
    yield project, project.files() - before


@pytest.fixture(scope="session")
def godot_project(imported_project: tuple[GodotProject, set[str]]) -> GodotProject:
    return imported_project[0]
