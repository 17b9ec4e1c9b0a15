"""Import rules users rely on: the core is GUI-free and the viewer never pays for torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


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


def test_analysing_a_cine_runs_on_onnxruntime_without_torch_qt_or_distill() -> None:
    assert _loaded_by_command(["analyze"], ("torch", "PySide6", "distill", "onnxruntime")) == ["onnxruntime"]
