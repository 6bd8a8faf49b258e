"""Flask stays at the edge (DESIGN.md; STYLE.md): domain modules never import Flask, directly or through another
project module. Checked on the syntax tree (every import statement, also inside functions), not by grep."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("idp", "clients", "mandates", "config", "migrations", "examples")
DOMAIN = [
    "idp/accounts.py", "idp/tokens.py", "idp/keys.py", "idp/codes.py", "idp/login.py", "idp/sessions.py",
    "idp/ephemeral.py", "idp/crypto.py", "idp/db.py", "idp/audit.py", "idp/directory.py", "idp/roster.py",
    "idp/roster_import.py", "idp/activation.py", "idp/school_scope.py", "idp/scim.py", "idp/scim_filter.py",
    "idp/school_admin.py", "idp/scim_schema.py", "idp/scim_people.py", "idp/scim_groups.py",
    "clients/models.py", "clients/service.py", "clients/subjects.py", "clients/activations.py",
    "clients/consents.py", "idp/guard.py", "idp/password_rules.py", "idp/passkeys.py", "idp/badges.py",
    "idp/mfa_policy.py", "idp/changes.py", "idp/rekey.py",
]
DOMAIN += sorted(str(p.relative_to(ROOT)) for p in (ROOT / "mandates").glob("*.py"))
DOMAIN += sorted(str(p.relative_to(ROOT)) for p in (ROOT / "config").glob("*.py"))
FORBIDDEN = ("flask", "flask_babel", "flask_wtf")


def imported_modules(path: Path) -> set[str]:
    """Every module an import statement in `path` names, resolved to absolute dotted names."""
    return imports_of(path.read_text(), ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1]), str(path))


def imports_of(source: str, package: str, filename: str = "<source>") -> set[str]:
    tree = ast.parse(source, filename=filename)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                prefix = ".".join(p for p in base if p)
                module = f"{prefix}.{node.module}" if node.module else prefix
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return found


def project_file(module: str) -> Path | None:
    """The source file of a project module (not a package's __init__), or None."""
    if module.split(".")[0] not in PACKAGES:
        return None
    candidate = ROOT.joinpath(*module.split(".")).with_suffix(".py")
    return candidate if candidate.is_file() else None


def is_forbidden(module: str) -> bool:
    root = module.split(".")[0]
    return root in FORBIDDEN or root.startswith("flask_")


def flask_chain(start: Path) -> list[str] | None:
    """The import chain from `start` to Flask through project modules, or None."""
    seen: set[Path] = set()
    stack: list[tuple[Path, list[str]]] = [(start, [str(start.relative_to(ROOT))])]
    while stack:
        path, chain = stack.pop()
        if path in seen:
            continue
        seen.add(path)
        for module in sorted(imported_modules(path)):
            if is_forbidden(module):
                return chain + [module]
            target = project_file(module)
            if target is not None:
                stack.append((target, chain + [str(target.relative_to(ROOT))]))
    return None


def test_the_domain_list_names_real_files():
    missing = [name for name in DOMAIN if not (ROOT / name).is_file()]
    assert not missing, missing


@pytest.mark.parametrize("name", DOMAIN)
def test_domain_module_never_imports_flask(name):
    direct = sorted(m for m in imported_modules(ROOT / name) if is_forbidden(m))
    assert not direct, f"{name} imports {direct}"


@pytest.mark.parametrize("name", DOMAIN)
def test_domain_module_never_reaches_flask_through_another_module(name):
    chain = flask_chain(ROOT / name)
    assert chain is None, " -> ".join(chain or [])


def test_the_checker_sees_imports_inside_functions_and_relative_ones():
    source = "def view():\n    from flask import request\n    return request\n"
    assert is_forbidden(next(iter(imports_of(source, "idp"))))
    assert "idp.web" in imports_of("from .web import services\n", "idp")
    assert "idp.web" in imports_of("from ..web import services\n", "idp.sub")
    assert "idp.web" in imports_of("from idp import web\n", "clients")
    assert any(is_forbidden(m) for m in imports_of("import flask_wtf.csrf\n", "idp"))


def test_the_checker_catches_a_view_module():
    assert flask_chain(ROOT / "idp" / "endpoints.py") is not None
