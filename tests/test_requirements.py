"""requirements.txt agrees with pyproject.toml: it pins every direct dependency of the dashboard and of
training once, inside pyproject's range, and nothing else (no network: both files are read as text)."""

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
EXTRA = "train"


def declared() -> dict[str, Requirement]:
    """pyproject's `dependencies` plus its train extra, by canonical name."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"][EXTRA]]
    return {canonicalize_name(r.name): r for r in reqs}


def requirement_lines() -> list[str]:
    """requirements.txt's lines without comments and blanks."""
    lines = (line.split("#", 1)[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines())
    return [line for line in lines if line]


def pins() -> list[Requirement]:
    return [Requirement(line) for line in requirement_lines() if not line.startswith("-")]


def test_installs_the_project_with_its_train_extra():
    options = [line for line in requirement_lines() if line.startswith("-")]
    assert options == [f"-e .[{EXTRA}]"]


def test_pins_each_direct_dependency_exactly_once():
    names = [canonicalize_name(r.name) for r in pins()]
    assert len(names) == len(set(names)), f"pinned more than once: {sorted({n for n in names if names.count(n) > 1})}"
    assert sorted(names) == sorted(declared())


def test_every_pin_is_exact_and_inside_the_pyproject_range():
    ranges = declared()
    for pin in pins():
        (spec,) = pin.specifier  # one specifier per line: the pin
        assert spec.operator == "==", f"{pin} is not an exact pin"
        assert not pin.extras and pin.marker is None, f"{pin}: extras and markers belong in pyproject.toml"
        declared_as = ranges.get(canonicalize_name(pin.name))
        assert declared_as is not None, f"{pin} is not a direct dependency in pyproject.toml"
        allowed = declared_as.specifier
        assert allowed.contains(spec.version, prereleases=True), f"{pin} is outside pyproject's {allowed}"
