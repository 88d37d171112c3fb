"""The documentation: every public name has a docstring, and the site builds with no warning.

The API reference (docs/api/) is generated from the docstrings, and an object without one is
left out of it silently; these tests are what make a missing docstring fail instead.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
import functools
import importlib.util
import inspect
import os
from pathlib import Path
import pkgutil
import re
import subprocess
import sys

import pytest

import optuna_llm


ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "optuna_llm"
API_PAGES = ROOT / "docs" / "api"

# What `mkdocs build` needs besides mkdocs itself: the theme and the reference generator.
DOC_TOOLS = ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")

Definition = ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef


def public_modules() -> list[str]:
    """The package and every module of it whose name does not start with an underscore."""
    names = [
        f"optuna_llm.{info.name}"
        for info in pkgutil.iter_modules([str(PACKAGE)])
        if not info.name.startswith("_")
    ]
    return ["optuna_llm", *sorted(names)]


def source_of(module: str) -> Path:
    """The file of a module of the package, found without importing it."""
    if module == "optuna_llm":
        return PACKAGE / "__init__.py"
    return PACKAGE / f"{module.removeprefix('optuna_llm.')}.py"


@functools.cache
def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def is_public(name: str) -> bool:
    # `__call__` is how a schedule or a script is used, so it is documented like a method.
    return not name.startswith("_") or name == "__call__"


def is_accessor(node: Definition) -> bool:
    """A property's setter or deleter, documented by its getter."""
    return any(
        isinstance(decorator, ast.Attribute) and decorator.attr in ("setter", "deleter")
        for decorator in node.decorator_list
    )


def public_definitions(tree: ast.Module) -> Iterator[tuple[str, Definition]]:
    """Every public class and function of a module, and every public method of those classes,
    by qualified name."""
    for node in tree.body:
        if not isinstance(node, Definition) or node.name.startswith("_"):
            continue
        yield node.name, node
        if isinstance(node, ast.ClassDef):
            for member in node.body:
                if (
                    isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef)
                    and is_public(member.name)
                    and not is_accessor(member)
                ):
                    yield f"{node.name}.{member.name}", member


def has_docstring(node: ast.Module | Definition) -> bool:
    return bool((ast.get_docstring(node) or "").strip())


def directives() -> set[str]:
    """The objects the reference pages render, from their ``::: name`` lines."""
    found = set()
    for page in API_PAGES.glob("*.md"):
        found.update(re.findall(r"^::: *([\w.]+)", page.read_text(encoding="utf-8"), re.M))
    return found


@pytest.mark.parametrize("module", public_modules())
def test_public_module_has_docstrings(module: str) -> None:
    path = source_of(module)
    tree = parse(path)
    missing = [name for name, node in public_definitions(tree) if not has_docstring(node)]
    if not has_docstring(tree):
        missing.insert(0, "(the module itself)")
    assert not missing, f"{path.relative_to(ROOT)}: no docstring for {', '.join(missing)}"


def exported_objects() -> list[str]:
    return [name for name in optuna_llm.__all__ if name != "__version__"]


@pytest.mark.parametrize("name", exported_objects())
def test_exported_name_has_docstrings(name: str) -> None:
    # Names such as LLMSampler are defined in private modules, which the module check skips.
    obj = getattr(optuna_llm, name)
    assert inspect.isclass(obj) or inspect.isfunction(obj), f"optuna_llm.{name} is {obj!r}"
    path = Path(inspect.getfile(obj))
    definitions = dict(public_definitions(parse(path)))
    assert obj.__qualname__ in definitions, f"optuna_llm.{name} is not defined at {path}"
    missing = [
        qualname
        for qualname, node in definitions.items()
        if qualname.split(".")[0] == obj.__qualname__ and not has_docstring(node)
    ]
    assert not missing, f"{path.relative_to(ROOT)}: no docstring for {', '.join(missing)}"


def test_every_public_name_has_a_reference_page() -> None:
    rendered = directives()
    pages_missing = [module for module in public_modules()[1:] if module not in rendered]
    assert not pages_missing, f"no `::: name` in docs/api/ for {', '.join(pages_missing)}"
    names_missing = [
        name
        for name in exported_objects()
        if f"optuna_llm.{name}" not in rendered
        and getattr(optuna_llm, name).__module__ not in rendered
    ]
    assert not names_missing, f"no `::: name` in docs/api/ renders {', '.join(names_missing)}"


def test_site_builds_strictly(tmp_path: Path) -> None:
    missing = [name for name in DOC_TOOLS if not _installed(name)]
    if missing:
        pytest.skip(
            f"the documentation tools are not installed (missing: {', '.join(missing)}); "
            'install them with: pip install -e ".[docs]"'
        )
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        # Silences a notice the theme prints on every build; it is not about this site.
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (site / "api" / "sampler" / "index.html").is_file()


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # the parent package of a dotted name is missing
        return False
