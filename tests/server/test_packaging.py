"""What ships: every package the project declares is in the container image and installs."""

from __future__ import annotations

import re
import tomllib

from tests.support import ROOT


def declared_top_level_packages() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {name.split(".")[0] for name in config["tool"]["setuptools"]["packages"]}


def test_the_image_copies_every_package_the_server_imports() -> None:
    """Regression: the Dockerfile copied server/ but not moderation/, which the server
    imports for every message; the image would not have started."""
    copied = set(re.findall(r"^COPY (\w+)/ ", (ROOT / "Dockerfile").read_text(), re.M))
    assert declared_top_level_packages() <= copied
    assert "static" in copied


def test_package_data_files_exist() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for package, patterns in config["tool"]["setuptools"]["package-data"].items():
        folder = ROOT.joinpath(*package.split("."))
        for pattern in patterns:
            assert list(folder.glob(pattern)), f"{package}: nothing matches {pattern}"
