"""Launch files cannot run here (no launch_ros on PyPI), so check what can be checked statically:
they parse, declare the standard arguments, start executables that setup.py installs, and name
parameter files that exist."""
import ast
import re
from pathlib import Path

import pytest
from launch_ast import ROOT, declared_arguments, keyword_strings, node_sets, with_includes

from gnm_nav.launching.node_sets import NODE_SETS, LaunchOptions

LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))
STANDARD_ARGS = {"namespace", "use_sim_time", "params_file", "log_level"}


def _installed_executables() -> set[str]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "NODES":
            return set(ast.literal_eval(node.value))
    raise AssertionError("setup.py has no NODES table")


def test_there_are_launch_files():
    assert LAUNCH_FILES


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_is_well_formed(path: Path):
    source = path.read_text()
    tree = ast.parse(source)
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "generate_launch_description" in functions
    assert STANDARD_ARGS <= declared_arguments(tree), f"{path.name} lacks standard arguments"
    executables = {e for t in with_includes(path.name) for e in keyword_strings(t, "executable")}
    executables |= {spec.executable for name in node_sets(path.name) for spec in NODE_SETS[name](LaunchOptions())}
    assert executables, f"{path.name} starts no node"
    assert executables <= _installed_executables(), f"unknown executables {executables - _installed_executables()}"
    assert set(keyword_strings(tree, "package")) <= {"gnm_nav", "ros_gz_bridge", "ros_gz_sim"}
    for config in re.findall(r'"([\w/]+\.yaml)"', source):
        assert (ROOT / "config" / config).is_file() or (ROOT / config).is_file(), f"{path.name}: no {config}"
    for name in re.findall(r'"config", "([\w]+\.yaml)"', source):
        assert (ROOT / "config" / name).is_file(), f"{path.name}: no config/{name}"
