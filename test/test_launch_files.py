"""Launch files cannot run here (no launch_ros on PyPI), so check what can be checked statically:
they parse, declare the standard arguments, start executables that setup.py installs, and name
parameter files that exist."""
import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))
STANDARD_ARGS = {"namespace", "use_sim_time", "params_file", "log_level"}


def _installed_executables() -> set[str]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "NODES":
            return set(ast.literal_eval(node.value))
    raise AssertionError("setup.py has no NODES table")


def _keyword_strings(tree: ast.AST, keyword: str) -> list[str]:
    return [kw.value.value for node in ast.walk(tree) if isinstance(node, ast.Call) for kw in node.keywords
            if kw.arg == keyword and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str)]


def _declared_arguments(tree: ast.AST) -> set[str]:
    return {node.args[0].value for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "DeclareLaunchArgument"
            and node.args and isinstance(node.args[0], ast.Constant)}


def test_there_are_launch_files():
    assert LAUNCH_FILES


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_is_well_formed(path: Path):
    source = path.read_text()
    tree = ast.parse(source)
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "generate_launch_description" in functions
    assert STANDARD_ARGS <= _declared_arguments(tree), f"{path.name} lacks standard arguments"
    executables = set(_keyword_strings(tree, "executable"))
    assert executables, f"{path.name} starts no node"
    assert executables <= _installed_executables(), f"unknown executables {executables - _installed_executables()}"
    assert set(_keyword_strings(tree, "package")) <= {"gnm_nav", "ros_gz_bridge", "ros_gz_sim"}
    for config in re.findall(r'"([\w/]+\.yaml)"', source):
        assert (ROOT / "config" / config).is_file() or (ROOT / config).is_file(), f"{path.name}: no {config}"
    for name in re.findall(r'"config", "([\w]+\.yaml)"', source):
        assert (ROOT / "config" / name).is_file(), f"{path.name}: no config/{name}"
