"""Reading launch/*.launch.py with `ast` (launch_ros is not installable here): what a file declares,
starts and sets, following the package's own launch files it includes."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parsed(name: str) -> ast.Module:
    return ast.parse((ROOT / "launch" / name).read_text())


def _calls(tree: ast.AST, *names: str) -> list[ast.Call]:
    return [c for c in ast.walk(tree) if isinstance(c, ast.Call) and getattr(c.func, "id", "") in names]


def _kw(call: ast.Call, name: str):
    return next((k.value for k in call.keywords if k.arg == name), None)


def declared_arguments(tree: ast.AST) -> set[str]:
    return {c.args[0].value for c in _calls(tree, "DeclareLaunchArgument")
            if c.args and isinstance(c.args[0], ast.Constant)}


def keyword_strings(tree: ast.AST, keyword: str) -> list[str]:
    return [kw.value.value for node in ast.walk(tree) if isinstance(node, ast.Call) for kw in node.keywords
            if kw.arg == keyword and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str)]


def includes(tree: ast.AST) -> list[tuple[str, ast.Call]]:
    """(launch file name, the IncludeLaunchDescription call) of every gnm_nav launch file included."""
    found = []
    for call in _calls(tree, "IncludeLaunchDescription"):
        strings = [c.value for c in ast.walk(call) if isinstance(c, ast.Constant) and isinstance(c.value, str)]
        if "gnm_nav" in strings:
            found += [(s, call) for s in strings if s.endswith(".launch.py")]
    return found


def with_includes(name: str) -> list[ast.Module]:
    """The file's tree and those of the gnm_nav launch files it includes, recursively."""
    trees = [parsed(name)]
    for included, _ in includes(trees[0]):
        trees += with_includes(included)
    return trees


def passed_arguments(tree: ast.Module, call: ast.Call) -> set[str]:
    """Argument names an include hands on: string keys of its launch_arguments dict, and the names in a
    module-level PASSED_ON tuple when the dict unpacks it."""
    names: set[str] = set()
    for node in ast.walk(_kw(call, "launch_arguments")):
        if isinstance(node, ast.Dict):
            names |= {k.value for k in node.keys if isinstance(k, ast.Constant)}
        elif isinstance(node, ast.DictComp) and getattr(node.generators[0].iter, "id", "") == "PASSED_ON":
            names |= set(module_constant(tree, "PASSED_ON"))
    return names


def module_constant(tree: ast.Module, name: str):
    return next(ast.literal_eval(n.value) for n in tree.body
                if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == name)


def node_sets(name: str) -> set[str]:
    """The gnm_nav.launching node sets the file (and what it includes) starts through node_set_actions."""
    return {c.args[0].value for tree in with_includes(name) for c in _calls(tree, "node_set_actions")
            if c.args and isinstance(c.args[0], ast.Constant)}
