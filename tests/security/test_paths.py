"""confine: paths stay inside their root after symlinks and '..' are resolved (real files)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from b2brec.security.paths import PathRefused, confine


@pytest.fixture
def area(tmp_path: Path) -> Path:
    root = tmp_path / "uploads"
    (root / "sub").mkdir(parents=True)
    (root / "sales.csv").write_text("a,b\n1,2\n")
    (tmp_path / "secret.key").write_text("TOPSECRETKEYMATERIAL")
    return root


def test_relative_and_absolute_paths_inside_pass(area: Path) -> None:
    assert confine("sales.csv", area) == (area / "sales.csv").resolve()
    assert confine(area / "sales.csv", area) == (area / "sales.csv").resolve()
    assert confine("sub/../sales.csv", area) == (area / "sales.csv").resolve()
    assert confine(".", area) == area.resolve()
    assert confine("not-yet-there.csv", area) == area.resolve() / "not-yet-there.csv"


@pytest.mark.parametrize(
    "path", ["../secret.key", "sub/../../secret.key", "/etc/passwd", "/", "..", "~/x", "sub/../../uploads2/x"]
)
def test_paths_leading_out_are_refused(area: Path, path: str) -> None:
    if path == "~/x":  # not expanded: stays a folder literally named "~" inside the area
        assert confine(path, area) == area.resolve() / "~" / "x"
        return
    with pytest.raises(PathRefused) as caught:
        confine(path, area)
    assert caught.value.code == "path_refused"
    assert "TOPSECRET" not in str(caught.value)


def test_symlinks_out_of_the_area_are_refused(area: Path) -> None:
    os.symlink(area.parent / "secret.key", area / "innocent.csv")
    os.symlink("/etc", area / "etc")
    os.symlink(area.parent, area / "sub" / "up")
    for path in ("innocent.csv", "etc/passwd", "sub/up/secret.key"):
        with pytest.raises(PathRefused):
            confine(path, area)
    os.symlink(area / "sales.csv", area / "alias.csv")  # a link that stays inside is fine
    assert confine("alias.csv", area) == (area / "sales.csv").resolve()


def test_a_sibling_folder_sharing_the_prefix_is_outside(area: Path) -> None:
    sibling = area.parent / "uploads-other"
    sibling.mkdir()
    with pytest.raises(PathRefused):
        confine(sibling / "x.csv", area)


@pytest.mark.parametrize("path", ["", "   ", "a\x00b", "x" * 2000])
def test_malformed_paths_are_refused(area: Path, path: str) -> None:
    with pytest.raises(PathRefused):
        confine(path, area)
