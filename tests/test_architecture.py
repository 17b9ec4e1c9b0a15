"""Import rules users rely on: the core is GUI-free and the viewer never pays for torch."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("echoviewer", "distill")


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function, in full dotted form."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import; the layer rules read absolute names"
            names.add(node.module)
    return names


def _imported_modules(path: Path) -> set[str]:
    return {name.split(".")[0] for name in _imports(path)}


def _module_map() -> list[tuple[list[str], list[str]]]:
    """ARCHITECTURE.md's module map: (paths a row covers, what they may import) per row."""
    text = (ROOT / "ARCHITECTURE.md").read_text()
    table = text[text.index("## Module map"):]
    table = table[:table.index("\n## ", 1)]
    rows = []
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("module", "---"):
            continue
        paths = re.findall(r"`([^`]+)`", cells[0])
        allowed = re.findall(r"`([^`]+)`", cells[2])
        rows.append((paths, allowed))
    return rows


def _row_for(relative: str, rows: list[tuple[list[str], list[str]]]) -> list[str] | None:
    """The allowed imports of the most specific row covering ``relative`` (a file beats its folder)."""
    best, best_length = None, -1
    for paths, allowed in rows:
        for covered in paths:
            fits = relative == covered or (covered.endswith("/") and relative.startswith(covered))
            if fits and len(covered) > best_length:
                best, best_length = allowed, len(covered)
    return best


def _package_of(relative: str) -> str:
    """The dotted package a file belongs to (a package's ``__init__`` belongs to itself)."""
    return str(Path(relative).parent).replace("/", ".")


def _permitted(name: str, package: str, allowed: list[str]) -> bool:
    """Standard library, the package root, siblings inside one subpackage, and what the row allows."""
    if name.split(".")[0] in sys.stdlib_module_names or name in PACKAGES:
        return True
    if package not in PACKAGES and (name == package or name.startswith(package + ".")):
        return True
    return any(name == a or name.startswith(a + ".") for a in allowed)


def test_every_module_keeps_to_the_layer_table_in_architecture_md() -> None:
    """What ARCHITECTURE.md's module map says a module may import is what it imports: every module
    of both packages is covered by a row, and every row names files that exist."""
    rows = _module_map()
    for paths, _allowed in rows:
        for covered in paths:
            assert (ROOT / covered).exists(), f"ARCHITECTURE.md names {covered}, which does not exist"
    uncovered, offences = [], []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = str(path.relative_to(ROOT))
            allowed = _row_for(relative, rows)
            if allowed is None:
                uncovered.append(relative)
                continue
            package = _package_of(relative)
            for name in sorted(_imports(path)):
                if not _permitted(name, package, allowed):
                    offences.append(f"{relative} imports {name}")
    assert uncovered == [], f"modules no row of ARCHITECTURE.md's module map covers: {uncovered}"
    assert offences == [], "imports ARCHITECTURE.md's module map does not allow:\n" + "\n".join(offences)


def test_core_modules_never_import_qt() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "echoviewer").rglob("*.py")
                 if "gui" not in p.relative_to(ROOT / "echoviewer").parts
                 and _imported_modules(p) & {"PySide6", "pyqtgraph", "PyQt5", "PyQt6"}]
    assert offenders == []


def _loaded_by_command(argv: list[str], watched: tuple[str, ...]) -> list[str]:
    """Which of ``watched`` a fresh interpreter has imported after ``echoviewer ARGV SAMPLE`` ran."""
    code = (f"import sys; from echoviewer.cli import main; assert main({argv!r} + [sys.argv[1]]) == 0; "
            f"print(sorted(m for m in {watched!r} if m in sys.modules))")
    sample = ROOT / "echoviewer" / "resources" / "samples" / "sample_a4c.dcm"
    result = subprocess.run([sys.executable, "-c", code, str(sample)], capture_output=True,
                            text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return ast.literal_eval(result.stdout.strip().splitlines()[-1])


def test_describing_a_cine_imports_neither_torch_nor_qt_nor_distill() -> None:
    assert _loaded_by_command(["info"], ("torch", "PySide6", "distill")) == []


@pytest.mark.slow
def test_starting_the_viewer_never_imports_torch_or_distill(tmp_path) -> None:
    """The window opens a cine and segments it (onnxruntime) without paying for torch."""
    loaded = _loaded_by_command(["--screenshot", str(tmp_path / "shot.png")],
                                ("torch", "PySide6", "distill", "onnxruntime"))
    assert loaded == ["PySide6", "onnxruntime"] and (tmp_path / "shot.png").stat().st_size > 10_000


def test_distill_imports_without_qt() -> None:
    result = subprocess.run([sys.executable, "-c", "import sys, distill; print('PySide6' in sys.modules)"],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.stdout.strip() == "False"


def test_distill_commands_without_models_never_import_torch() -> None:
    """generate's spawned workers re-import the command line: torch there would cost every worker
    seconds and hundreds of MB."""
    code = ("import sys\nfrom distill.cli import build_parser\nbuild_parser('realism')\n"
            "build_parser('generate').parse_args(['generate', '--out', 'x', '--n', '1'])\n"
            "print(sorted(m for m in ('torch', 'onnxruntime', 'PySide6') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.stdout.strip() == "[]", result.stderr


def test_the_viewer_package_never_imports_torch_or_distill() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "echoviewer").rglob("*.py")
                 if _imported_modules(p) & {"torch", "distill", "torchvision"}]
    assert offenders == []


@pytest.mark.slow
def test_analysing_a_cine_runs_on_onnxruntime_without_torch_qt_or_distill() -> None:
    assert _loaded_by_command(["analyze"], ("torch", "PySide6", "distill", "onnxruntime")) == ["onnxruntime"]


def _loaded_by_import(modules: str, watched: tuple[str, ...]) -> list[str]:
    """Which of ``watched`` a fresh interpreter has imported after ``import MODULES``."""
    code = f"import sys, {modules}; print(sorted(m for m in {watched!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT,
                            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, result.stderr
    return ast.literal_eval(result.stdout.strip().splitlines()[-1])


# What keeps the start quick (bench/startup.py has the timings): SciPy's signal, stats, ndimage and
# interpolate, onnxruntime, highdicom and the PACS's network libraries each cost a process tenths of
# a second to import, so they are imported only where they are used.
_SLOW_IMPORTS = ("scipy.signal", "scipy.stats", "scipy.ndimage", "scipy.interpolate", "onnxruntime", "highdicom",
                 "pynetdicom", "dicomweb_client", "torch", "PySide6")


def test_the_command_line_and_info_import_nothing_slow() -> None:
    assert _loaded_by_import("echoviewer.cli.main, echoviewer.cli.info", _SLOW_IMPORTS) == []
    assert _loaded_by_command(["info"], _SLOW_IMPORTS) == []


def test_the_user_data_folder_and_the_pacs_nodes_import_no_analysis() -> None:
    """``echoviewer pacs node …`` needs data_dir(), not the models."""
    assert _loaded_by_import("echoviewer.user_data, echoviewer.pacs, echoviewer.cli.pacs",
                             _SLOW_IMPORTS + ("echoviewer.analysis",)) == []


def test_analysing_imports_no_scipy() -> None:
    assert _loaded_by_import("echoviewer.analysis", _SLOW_IMPORTS) == ["onnxruntime"]


def test_the_window_imports_no_dicom_results_pacs_network_or_rare_dialogs() -> None:
    loaded = _loaded_by_import("echoviewer.gui.app, echoviewer.gui.main_window",
                               _SLOW_IMPORTS + ("echoviewer.gui.pacs_dialog", "echoviewer.gui.help_dialogs",
                                                "echoviewer.gui.wizard", "echoviewer.dicom_results"))
    assert loaded == ["PySide6", "onnxruntime"]
