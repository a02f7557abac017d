"""The lock files pin every dependency pyproject.toml declares, at a version the declaration allows."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def _pins(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def _declared(extra: str | None) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    texts = list(project["dependencies"]) + (list(project["optional-dependencies"][extra]) if extra else [])
    return [Requirement(t) for t in texts]


@pytest.mark.parametrize(
    ("lock", "extra"),
    [
        pytest.param("requirements.lock", None, id="service"),
        pytest.param("requirements-dev.lock", "dev", id="dev"),
    ],
)
def test_every_declared_dependency_is_pinned_within_its_range(lock: str, extra: str | None) -> None:
    pins = _pins(ROOT / lock)
    problems = []
    for req in _declared(extra):
        if req.marker is not None and not req.marker.evaluate():
            continue
        version = pins.get(canonicalize_name(req.name))
        if version is None:
            problems.append(f"{req.name} is not pinned in {lock}")
        elif not req.specifier.contains(version, prereleases=True):
            problems.append(f"{req.name}=={version} in {lock} is outside {req.specifier}")
    assert problems == []


def test_the_service_lock_is_part_of_the_dev_lock_and_the_image_installs_it() -> None:
    service, dev = _pins(ROOT / "requirements.lock"), _pins(ROOT / "requirements-dev.lock")
    assert {name: dev.get(name) for name in service} == service
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "pip install -r requirements.lock" in dockerfile
    assert "!requirements.lock" in (ROOT / "deploy" / "Dockerfile.dockerignore").read_text()
    assert "-r requirements-dev.lock" in (ROOT / "Makefile").read_text()
