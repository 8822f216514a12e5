"""The code's shape, checked: one door, one composition root, storage behind ports, small modules.

These are the rules docs/architecture.md promises; each test names what broke it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "akool_ui"
MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 250


def _modules(under: str = "") -> list[Path]:
    return sorted((ROOT / under).rglob("*.py"))


def _imports(path: Path) -> list[str]:
    """Every module ``path`` imports, absolute (``akool_ui.service.quotas``)."""
    tree = ast.parse(path.read_text("utf-8"))
    package = ".".join(("akool_ui", *path.relative_to(ROOT).with_suffix("").parts))
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    else:
        package = package.rsplit(".", 1)[0] if package.endswith(".__init__") else package
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append(module)
            found += [f"{module}.{alias.name}" for alias in node.names]
    return found


def test_no_module_is_longer_than_400_lines_and_no_class_longer_than_250():
    long_modules, long_classes = [], []
    for path in _modules():
        text = path.read_text("utf-8")
        if text.count("\n") > MAX_MODULE_LINES:
            long_modules.append(f"{path.relative_to(ROOT)} ({text.count(chr(10))})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > MAX_CLASS_LINES:
                long_classes.append(f"{path.relative_to(ROOT)}:{node.name} ({node.end_lineno - node.lineno + 1})")
    assert long_modules == [] and long_classes == []


def test_the_ui_imports_the_service_only_through_its_door():
    """``akool_ui/ui`` may import ``akool_ui.service`` (the public surface), ``jobs`` and ``akool``; never
    a module inside the service, never an adapter."""
    reached = set()
    for path in _modules("ui"):
        for module in _imports(path):
            if module.startswith("akool_ui.adapters") or (
                module.startswith("akool_ui.service.") and not _is_a_name_of_the_door(module)
            ):
                reached.add(f"{path.relative_to(ROOT)} -> {module}")
    assert sorted(reached) == []


def _is_a_name_of_the_door(module: str) -> bool:
    """``from akool_ui.service import Studio`` shows up as ``akool_ui.service.Studio``: a name the door
    exports, not a module behind it."""
    import akool_ui.service as door

    return module.rsplit(".", 1)[0] == "akool_ui.service" and module.rsplit(".", 1)[1] in door.__all__


@pytest.mark.parametrize("layer", ["service", "jobs", "akool"])
def test_imports_run_one_way_and_the_service_never_names_an_adapter(layer):
    forbidden = {"service": ("akool_ui.ui", "akool_ui.adapters", "akool_ui.bootstrap", "akool_ui.simulator", "gradio"),
                 "jobs": ("akool_ui.ui", "akool_ui.service", "akool_ui.adapters", "gradio"),
                 "akool": ("akool_ui.ui", "akool_ui.service", "akool_ui.jobs", "akool_ui.adapters", "gradio")}[layer]
    wrong = sorted(
        f"{path.relative_to(ROOT)} -> {module}"
        for path in _modules(layer) for module in _imports(path) if module.startswith(forbidden)
    )
    assert wrong == []


def test_the_service_names_no_storage_engine_and_keeps_no_file():
    """diskcache, SQLite and the data folder's files belong to the local adapter (``akool_ui/adapters``);
    the service keeps what it keeps through ``service/ports.py`` only (it may read a file it is handed,
    such as a browser's upload)."""
    engines = ("diskcache", "sqlite3", "fcntl")
    found = []
    for path in _modules("service"):
        for module in _imports(path):
            if module.split(".")[0] in engines:
                found.append(f"{path.relative_to(ROOT)} imports {module}")
        text = path.read_text("utf-8")
        for needle in ("write_atomic(", ".write_bytes(", ".write_text(", "cache_dir /", "mkdir(", ".unlink(", "rmtree("):
            if needle in text:
                found.append(f"{path.relative_to(ROOT)} uses {needle}")
    assert found == []


# Classes that make up the object graph: built in the composition root only (bootstrap), never by each other.
SERVICES = {
    "Studio", "StudioParts", "JobTracker", "Budgets", "SpendingLimiter", "Credentials", "ClientPool", "Callbacks",
    "Pacing", "DurationBook", "Favourites", "DeleteGrace", "UploadStore", "ResultFiles", "ClientAddress",
    "OwnerHasher", "ReplayGuard", "JobStore", "LocalStorage", "LocalBlobs", "LocalEvents",
}


def test_only_bootstrap_constructs_the_services_and_adapters():
    allowed = {ROOT / "bootstrap.py"}
    made = []
    for path in _modules():
        if path in allowed or path.is_relative_to(ROOT / "adapters") or path.is_relative_to(ROOT / "simulator"):
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Call):
                name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
                if name in SERVICES:
                    made.append(f"{path.relative_to(ROOT)}:{node.lineno} makes {name}")
    assert made == []
