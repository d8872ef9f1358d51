"""Layering rules (README "What it is, for whom, how it flows"), checked on the source tree."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ami", "pipelines", "quality", "warehouse", "models", "reports", "app")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", PACKAGES)
def test_only_dags_import_airflow(package: str) -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / package).rglob("*.py")
        if any(m == "airflow" or m.startswith("airflow.") for m in imported_modules(path))
    ]
    assert offenders == [], f"Airflow imported outside dags/: {offenders}"


@pytest.mark.parametrize("package", [*PACKAGES, "dags"])
def test_every_package_says_what_it_owns(package: str) -> None:
    init = ROOT / package / "__init__.py"
    doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
    assert doc and len(doc.split()) >= 8, f"{init} needs a docstring saying what it owns"


#: Data flows one way: a layer never imports the layers above it.
ABOVE = {
    "warehouse": ("pipelines", "quality", "models", "reports", "app", "dags"),
    "pipelines": ("quality", "models", "reports", "app", "dags"),
    "quality": ("models", "reports", "app", "dags"),
    "models": ("reports", "app", "dags"),
    "reports": ("app", "dags"),
}


@pytest.mark.parametrize("package", sorted(ABOVE))
def test_lower_layers_do_not_import_upper_ones(package: str) -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in (ROOT / package).rglob("*.py")
        for module in imported_modules(path)
        if module.split(".")[0] in ABOVE[package]
    ]
    assert offenders == []


def test_the_scan_finds_an_airflow_import(tmp_path: Path) -> None:
    # The rule above must be able to fail: a planted import is found.
    planted = tmp_path / "x.py"
    planted.write_text("from airflow.sdk import dag\n", encoding="utf-8")
    assert "airflow.sdk" in imported_modules(planted)


#: Names of the warehouse tree: only ``warehouse/`` composes paths from them.
TREE_NAMES = {"bronze", "silver", "gold", "_state", "part-0.parquet", "_partition.json"}


def string_constants(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)}


@pytest.mark.parametrize("package", [p for p in PACKAGES if p != "warehouse"] + ["dags"])
def test_only_the_warehouse_composes_warehouse_paths(package: str) -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {sorted(string_constants(path) & TREE_NAMES)}"
        for path in (ROOT / package).rglob("*.py")
        if string_constants(path) & TREE_NAMES
    ]
    assert offenders == []


#: What reads bronze: the raw rows are typed and judged once, by VEE (quality/), into
#: silver; later layers read silver.
BRONZE_READS = {"bronze_parts", "scan_bronze", "current_files", "network_file",
                "FILEDROP_DATASET", "HES_API_DATASET", "CMIS_DATASET"}
#: Later-layer files that read bronze, and why there is no silver stage between.
BRONZE_ALLOWED = {
    # the crews' outcomes have no VEE: gold inspections is their only copy, recorded from
    # the landing zone's inspections* files (and from the command line)
    "models/anomaly/inspections.py",
    # the transformers' low-voltage network models (pandapower JSON), validated as they are
    # loaded (pipelines.networks), are read as received
    "models/balances.py",
}


def names_used(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    names |= {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    names |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
              for alias in node.names}
    return names


@pytest.mark.parametrize("package", ["models", "reports", "app"])
def test_later_layers_read_silver_not_bronze(package: str) -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / package).rglob("*.py")
        if str(path.relative_to(ROOT)) not in BRONZE_ALLOWED
        and names_used(path) & BRONZE_READS
    ]
    assert offenders == [], f"bronze read outside VEE: {offenders}"


def test_the_bronze_scan_finds_a_bronze_read(tmp_path: Path) -> None:
    planted = tmp_path / "x.py"
    planted.write_text("rows = warehouse.bronze_parts('filedrop', 'events')\n",
                       encoding="utf-8")
    assert "bronze_parts" in names_used(planted)


@pytest.mark.parametrize("package", [*PACKAGES, "dags", "benchmarks"])
def test_code_refers_to_its_own_docs_only(package: str) -> None:
    # Messages and docstrings point to the README, not to documents outside the repository.
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / package).rglob("*.py")
        if any(word in path.read_text(encoding="utf-8")
               for word in ("DESIGN.md", "DESIGN §", "STYLE.md"))
    ]
    assert offenders == []
