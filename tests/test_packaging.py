"""The built wheel is the product: installed alone into a clean virtual environment (no torch,
no checkout on the path), it opens the viewer on its own bundled sample and analyses it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _run(argv: list[str | Path], cwd: Path, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    environment.update(env)
    result = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True,
                            timeout=timeout, env=environment)
    assert result.returncode == 0, f"{argv}: {result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the wheel built from this checkout and its dependencies, nothing else."""
    work = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", work / "dist", ROOT], cwd=work)
    wheel = next((work / "dist").glob("echoviewer-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for shipped in ("echoviewer/resources/models/student.onnx", "echoviewer/resources/models/student.json",
                    "echoviewer/resources/models/teacher.onnx", "echoviewer/resources/samples/sample_a4c.dcm",
                    "echoviewer/resources/icons/echoviewer.svg"):
        assert shipped in names, f"{wheel.name} lacks {shipped}"
    environment = work / "venv"
    venv.EnvBuilder(with_pip=True).create(environment)
    _run([environment / "bin" / "python", "-m", "pip", "install", "--quiet", wheel], cwd=work)
    return environment


def test_the_wheel_installs_without_torch_and_finds_its_resources(installed, tmp_path) -> None:
    python = installed / "bin" / "python"
    code = ("import importlib.util, json; from echoviewer.resources import SAMPLE_CINE, STUDENT_MODEL; "
            "from echoviewer.distill_runs import distill_unavailable; "
            "print(json.dumps([str(SAMPLE_CINE), str(STUDENT_MODEL), importlib.util.find_spec('torch') is None, "
            "distill_unavailable()]))")
    sample, student, no_torch, why = json.loads(_run([python, "-c", code], cwd=tmp_path).stdout)
    assert Path(sample).is_relative_to(installed) and Path(student).is_relative_to(installed)
    assert no_torch
    assert 'pip install "echoviewer[distill]"' in why  # what the wizard says instead of opening


def test_the_installed_viewer_screenshots_the_bundled_sample(installed, tmp_path) -> None:
    shot = tmp_path / "shot.png"
    _run([installed / "bin" / "echoviewer", "--screenshot", shot], cwd=tmp_path,
         QT_QPA_PLATFORM="offscreen", ECHOVIEWER_DATA_DIR=str(tmp_path / "data"))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_the_installed_analyze_measures_the_bundled_sample(installed, tmp_path) -> None:
    python = installed / "bin" / "python"
    sample = _run([python, "-c", "from echoviewer.resources import SAMPLE_CINE; print(SAMPLE_CINE)"],
                  cwd=tmp_path).stdout.strip()
    _run([installed / "bin" / "echoviewer", "analyze", sample, "--json", tmp_path / "out.json"], cwd=tmp_path)
    result = json.loads((tmp_path / "out.json").read_text())
    cine = result["cines"][0]
    assert result["summary"]["analysed"] == 1 and len(cine["beats"]) >= 1
    assert cine["model"]["name"] and 40 < cine["summary"]["ef_disks_percent"]["mean"] < 80
