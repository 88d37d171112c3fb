"""What ``pip install optuna-llm`` gives is what the tests tested.

The sdist and the wheel are built as a release builds them (docs/releasing.md), checked as
PyPI checks them, and the wheel is installed, not editable, into a fresh environment outside
the checkout, where tests/installed_smoke.py runs against the installed package only.
"""

from __future__ import annotations

from collections.abc import Iterator
from email.parser import Parser
import os
from pathlib import Path
import re
import shlex
import subprocess
import sys
import tarfile
import tomllib
import zipfile

from packaging.requirements import Requirement
from packaging.version import Version
import pytest

import optuna_llm


REPO = Path(__file__).resolve().parents[1]
SMOKE = Path(__file__).with_name("installed_smoke.py")
# The install line of the README that the fresh environment runs, the package's name replaced
# by the wheel that was built.
LOCAL_INSTALL = 'pip install "optuna-llm[local]"'


def _run(
    command: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd, env=env)
    assert done.returncode == 0, f"{shlex.join(command)}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel; the wheel is built from the sdist, as PyPI's users get it."""
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--outdir", str(out), str(REPO)])
    return out


def _wheel(dist: Path) -> Path:
    (wheel,) = dist.glob("optuna_llm-*.whl")
    return wheel


def _sdist(dist: Path) -> Path:
    (sdist,) = dist.glob("optuna_llm-*.tar.gz")
    return sdist


def _metadata(wheel: Path) -> dict[str, list[str]]:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        message = Parser().parsestr(archive.read(name).decode())
    fields: dict[str, list[str]] = {}
    for key, value in message.items():
        fields.setdefault(key, []).append(value)
    return fields


def test_twine_accepts_the_sdist_and_the_wheel(dist: Path) -> None:
    files = [str(_sdist(dist)), str(_wheel(dist))]
    shown = _run([sys.executable, "-m", "twine", "check", "--strict", *files])
    assert shown.stdout.count("PASSED") == 2, shown.stdout


def test_the_wheel_carries_the_licence_and_the_typed_marker(dist: Path) -> None:
    with zipfile.ZipFile(_wheel(dist)) as archive:
        names = set(archive.namelist())
        (licence,) = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        assert archive.read(licence) == (REPO / "LICENSE").read_bytes()
    assert "optuna_llm/py.typed" in names
    metadata = _metadata(_wheel(dist))
    assert metadata["License-Expression"] == ["MIT"]
    assert metadata["License-File"] == ["LICENSE"]


def test_the_wheel_carries_every_module_and_nothing_of_the_checkouts_rest(dist: Path) -> None:
    with zipfile.ZipFile(_wheel(dist)) as archive:
        names = {n for n in archive.namelist() if ".dist-info/" not in n}
    modules = {path.relative_to(REPO).as_posix() for path in (REPO / "optuna_llm").rglob("*.py")}
    assert modules <= names, modules - names
    # The llama.cpp launcher is started as `python -m optuna_llm._llama_server`.
    assert "optuna_llm/_llama_server.py" in names
    assert all(n.startswith("optuna_llm/") for n in names), sorted(names)


def test_the_sdist_carries_the_licence_and_builds_the_same_version(dist: Path) -> None:
    with tarfile.open(_sdist(dist)) as archive:
        names = {Path(n).relative_to(Path(n).parts[0]).as_posix() for n in archive.getnames()}
    assert {"LICENSE", "README.md", "pyproject.toml", "optuna_llm/py.typed"} <= names
    assert _metadata(_wheel(dist))["Version"] == [optuna_llm.__version__]


def test_the_metadata_gives_a_pypi_page_its_links_and_what_is_tested(dist: Path) -> None:
    metadata = _metadata(_wheel(dist))
    urls = dict(url.split(", ", 1) for url in metadata["Project-URL"])
    assert {"Documentation", "Source", "Changelog"} <= set(urls)
    assert all(url.startswith("https://") for url in urls.values())
    classifiers = set(metadata["Classifier"])
    assert "Programming Language :: Python :: 3.11" in classifiers
    assert "Operating System :: POSIX :: Linux" in classifiers
    assert metadata["Requires-Python"] == [">=3.11"]


def test_the_version_is_held_in_one_place() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    held = [
        path.relative_to(REPO).as_posix()
        for path in (REPO / "optuna_llm").rglob("*.py")
        if re.search(r"^__version__\s*=", path.read_text(), re.MULTILINE)
    ]
    assert held == ["optuna_llm/__init__.py"]


def test_the_optunahub_package_needs_the_release_this_checkout_becomes() -> None:
    lines = (REPO / "optunahub/samplers/llm_sampler/requirements.txt").read_text().splitlines()
    (requirement,) = [Requirement(line) for line in lines if line.strip()]
    release = Version(optuna_llm.__version__).base_version
    assert requirement.specifier, "the registry package names no version of optuna-llm"
    assert requirement.specifier.contains(release), (str(requirement), release)


def test_the_readme_installs_the_local_extra_with_the_line_the_smoke_test_runs() -> None:
    assert LOCAL_INSTALL in (REPO / "README.md").read_text()


@pytest.fixture(scope="module")
def fresh_environment(tmp_path_factory: pytest.TempPathFactory, dist: Path) -> Iterator[Path]:
    """A new virtual environment with the wheel and its local extra, outside the checkout."""
    root = tmp_path_factory.mktemp("fresh")
    assert REPO not in root.resolve().parents
    _run([sys.executable, "-m", "venv", str(root / "venv")])
    python = root / "venv" / "bin" / "python"
    arguments = shlex.split(LOCAL_INSTALL.replace("optuna-llm", str(_wheel(dist))))
    assert arguments[:2] == ["pip", "install"]
    # pip's cache holds what the test setup downloaded and built (llama.cpp above all).
    _run([str(python), "-m", "pip", "install", "--quiet", *arguments[2:]], cwd=root)
    yield python


@pytest.mark.local_llm
def test_the_installed_wheel_runs_a_study_its_command_and_the_bundled_model(
    fresh_environment: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    # A cache of its own: the model is assembled from the parts the fresh environment holds.
    env["OPTUNA_LLM_CACHE_DIR"] = str(tmp_path / "model-cache")
    # A copy, so that the script's folder on sys.path is not the checkout's.
    script = tmp_path / SMOKE.name
    script.write_text(SMOKE.read_text())
    shown = _run([str(fresh_environment), str(script)], cwd=tmp_path, env=env)
    assert "from the installed wheel" in shown.stdout
    assert "the bundled model answered" in shown.stdout, shown.stdout
