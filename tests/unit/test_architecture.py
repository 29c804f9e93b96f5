"""The layering ARCHITECTURE.md describes, checked on the source: no import cycle, nothing imports upward,
no function longer than a screen, and the commands that need no console load none.

Imports are read with `ast` (those under ``if TYPE_CHECKING:`` do not run and are left out; imports
inside functions count: a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "colotui"
#: The longest a function or method may be, from its ``def`` line to its last (decorators not counted).
MAX_FUNCTION_LINES = 60


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append(child)
            visit(child)

    visit(tree)
    return found


def import_graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """colotui module → the colotui modules it imports; and → the outside top-level packages it imports."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    inner: dict[str, set[str]] = {name: set() for name in modules}
    outer: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[:len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for target in targets:
                if target.split(".")[0] == "colotui":
                    inner[name].add(target)
                else:
                    outer[name].add(target)
    return inner, outer


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_no_import_cycle() -> None:
    inner, _ = import_graph()
    assert len(inner) > 50, "the source was found and read"
    assert find_cycle(inner) is None, " → ".join(find_cycle(inner) or [])


def test_the_cycle_finder_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]


def test_nothing_imports_upward() -> None:
    inner, outer = import_graph()
    rules = {  # package → what it may import of colotui besides itself
        "colotui.roles": set(),  # the lowest: every layer may ask it which role is the other
        "colotui.qmp": {"colotui.errors", "colotui.paths", "colotui.files", "colotui.roles"},
        "colotui.model": {"colotui.qmp", "colotui.roles"},
        # paths and files: where the guard's socket and token are, and how the token is read
        "colotui.service": {"colotui.qmp", "colotui.model", "colotui.discovery", "colotui.pair", "colotui.topology",
                            "colotui.errors", "colotui.roles", "colotui.paths", "colotui.files"},
        "colotui.discovery": {"colotui.qmp", "colotui.model", "colotui.topology", "colotui.compat", "colotui.roles"},
    }
    for module, imported in inner.items():
        for package, allowed in rules.items():
            if _in(module, package):
                wrong = [t for t in imported if not _in(t, package) and not any(_in(t, a) for a in allowed)]
                assert not wrong, f"{module} imports {wrong}, above {package}"
        if _in(module, "colotui.ui"):
            assert not [t for t in imported if _in(t, "colotui.lab")], f"{module} imports the lab"
    talks_qmp = sorted(m for m, imported in outer.items() if any(_in(t, "qemu") for t in imported))
    assert talks_qmp == ["colotui.qmp.session"], "only the session service imports qemu.qmp"


def test_controllers_import_no_textual_nor_anything_above_them() -> None:
    """control/ is plain asyncio: a screen shows what it is told, and a test drives a controller without one."""
    inner, outer = import_graph()
    for module in (m for m in inner if _in(m, "colotui.control")):
        assert not [t for t in outer[module] if _in(t, "textual")], f"{module} imports Textual"
        above = [t for t in inner[module]
                 if any(_in(t, p) for p in ("colotui.ui", "colotui.lab", "colotui.cli", "colotui.commands"))]
        assert not above, f"{module} imports {above}"


def _calls(tree: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Call) and ((isinstance(n.func, ast.Name) and n.func.id == name) or
                                            (isinstance(n.func, ast.Attribute) and n.func.attr == name))
               for n in ast.walk(tree))


def test_only_the_run_service_builds_an_engine() -> None:
    """One run path: a refusal or a step of the sequence added there holds for `colotui run`, the console, the
    fleet and the replay alike."""
    builders = sorted(_module_name(p) for p in PACKAGE.rglob("*.py") if _calls(ast.parse(p.read_text()), "Engine"))
    assert builders == ["colotui.control.procedures"]
    assert _calls(ast.parse("Engine(x)"), "Engine") and not _calls(ast.parse("Engines(x)"), "Engine")


def long_functions(tree: ast.AST, limit: int = MAX_FUNCTION_LINES) -> list[tuple[str, int, int]]:
    """Every function or method (nested ones too) longer than ``limit`` lines: its dotted name, its
    ``def`` line and its length."""
    found: list[tuple[str, int, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                length = (child.end_lineno or child.lineno) - child.lineno + 1
                if not isinstance(child, ast.ClassDef) and length > limit:
                    found.append((name, child.lineno, length))
                visit(child, f"{name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def test_no_function_is_longer_than_the_limit() -> None:
    offenders = [f"{path.relative_to(PACKAGE.parent)}:{line} {name} ({length} lines)"
                 for path in sorted(PACKAGE.rglob("*.py"))
                 for name, line, length in long_functions(ast.parse(path.read_text()))]
    assert not offenders, f"longer than {MAX_FUNCTION_LINES} lines: " + "; ".join(offenders)


def test_the_length_finder_finds_one() -> None:
    def block(indent: str, lines: int) -> str:
        return "".join(f"{indent}x{i} = {i}\n" for i in range(lines))

    source = ("@decorator\ndef fits():\n" + block("    ", 59)  # lines 2-61: 60, the limit, not over it
              + "class C:\n    async def over(self):\n        def inner():\n" + block(" " * 12, 60)
              + "        y = 0\n")
    assert long_functions(ast.parse(source)) == [("C.over", 63, 63), ("C.over.inner", 64, 61)]


def _loaded_by(*commands: list[str]) -> set[str]:
    """What real `colotui` commands, run one after the other in one process, have imported between them:
    the top-level packages and colotui's modules."""
    program = ("import json, sys\nfrom colotui.cli import main\n"
               "for argv in json.loads(sys.argv[1]):\n"
               "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
               "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", program, json.dumps(commands)], capture_output=True, text=True,
                          timeout=60)
    modules = json.loads(done.stderr.splitlines()[-1])
    return {name.split(".")[0] for name in modules} | {name for name in modules if name.startswith("colotui.")}


def test_the_commands_without_a_console_load_no_textual_and_no_lab() -> None:
    loaded = _loaded_by(["--help"], ["run", "--help"], ["shell", "--help"], ["lab", "--help"], ["run", "--list"])
    assert {"colotui.cli", "colotui.scenario"} <= loaded, "the commands ran (run --list read the procedures)"
    heavy = sorted(m for m in loaded if m in {"textual", "textual_serve", "aiohttp", "prompt_toolkit"}
                   or m.startswith(("colotui.ui", "colotui.lab")))
    assert not heavy, f"the commands without a console loaded {heavy}"
    assert {"textual", "colotui.ui.keymap"} <= _loaded_by(["keys"]), "the check sees a command that loads them"
