"""Benchmark how fast the commands and the viewer start, as whole processes.

Each command runs as a fresh process (median of N, default 5), printed beside ``python -c pass``
measured in the same run, and as a ratio to it (the machine may be shared: the ratio is the
steadier figure):

* ``echoviewer info SAMPLE`` (goal ≤ 0.4 s) and ``echoviewer analyze SAMPLE`` (goal ≤ 0.8 s), on
  the bundled sample cine (``echoviewer.resources.SAMPLE_CINE``);
* ``echoviewer pacs node list`` (no goal: what a light command costs);
* the viewer on Qt's off-screen platform with ``ECHOVIEWER_STARTUP_TIMES`` (echoviewer.gui.app):
  the seconds from its launch until a first frame is painted (by the start window, which
  shows it before pyqtgraph and the models are imported, or the cine view; goal ≤ 1.0 s) and until the cine view and the curve paint the masks and the curve
  (goal ≤ 1.5 s).

Every process gets a fresh ``ECHOVIEWER_DATA_DIR`` in a temporary folder (no saved edits, no
recent files). Python's bytecode cache is on (``PYTHONDONTWRITEBYTECODE`` is dropped from the
children's environment) and each command runs once untimed first, so the project's modules are
read from ``__pycache__`` as in an installed package (pip compiles a wheel's modules at install),
not compiled on every start; ``--cold`` measures with the environment as it is. ``python -X importtime -m echoviewer info SAMPLE`` shows where the import time goes.

Usage: ``python bench/startup.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import verdict  # bench/ is on sys.path when a script runs
from echoviewer.resources import SAMPLE_CINE

TIMEOUT_S = 120.0
COMMANDS = {  # name: (arguments after python, goal in seconds or None)
    "python -c pass": (["-c", "pass"], None),
    "echoviewer info SAMPLE": (["-m", "echoviewer", "info", str(SAMPLE_CINE)], 0.4),
    "echoviewer analyze SAMPLE": (["-m", "echoviewer", "analyze", str(SAMPLE_CINE)], 0.8),
    "echoviewer pacs node list": (["-m", "echoviewer", "pacs", "node", "list"], None),
}
VIEWER_GOALS = {"frame": 1.0, "analysis": 1.5}
VIEWER_NAMES = {"frame": "viewer: first frame painted", "analysis": "viewer: masks and curve painted"}


COLD = False  # --cold: keep the environment's bytecode setting and skip the warm-up run


def _environment(data_dir: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, "ECHOVIEWER_DATA_DIR": data_dir, **extra}
    if not COLD:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def command_seconds(arguments: list[str]) -> float:
    """Wall time of one fresh ``python ARGUMENTS`` process (stdout discarded; failure stops the bench)."""
    with tempfile.TemporaryDirectory(prefix="echoviewer-startup-") as data_dir:
        start = time.perf_counter()
        result = subprocess.run([sys.executable, *arguments], env=_environment(data_dir), timeout=TIMEOUT_S,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(arguments)} failed ({result.returncode}): {result.stderr.strip()}")
    return seconds


def viewer_seconds() -> dict[str, float]:
    """``echoviewer SAMPLE`` off-screen: seconds from its launch to the first paints."""
    with tempfile.TemporaryDirectory(prefix="echoviewer-startup-") as data_dir:
        out = Path(data_dir) / "startup.json"
        env = _environment(data_dir, QT_QPA_PLATFORM="offscreen", ECHOVIEWER_STARTUP_TIMES=str(out))
        launched = time.time()  # the clock the viewer stamps its paints with
        result = subprocess.run([sys.executable, "-m", "echoviewer", str(SAMPLE_CINE)], env=env,
                                timeout=TIMEOUT_S, capture_output=True, text=True)
        if result.returncode != 0 or not out.exists():
            raise SystemExit(f"the viewer failed ({result.returncode}): {result.stderr.strip()}")
        return {name: stamp - launched for name, stamp in json.loads(out.read_text()).items()}


def medians(sample: Callable[[], dict[str, float]], runs: int) -> dict[str, float]:
    if not COLD:
        sample()  # writes the bytecode cache; not counted
    samples = [sample() for _ in range(runs)]
    return {name: statistics.median(s[name] for s in samples) for name in samples[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="processes per command (median; default 5)")
    parser.add_argument("--cold", action="store_true",
                        help="no warm-up run and the environment's bytecode setting (modules compiled each start "
                             "where PYTHONDONTWRITEBYTECODE is set)")
    args = parser.parse_args()
    global COLD
    COLD = args.cold
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    print(f"{args.runs} fresh processes each, median; {os.cpu_count()} cores; {sys.executable}; "
          + ("cold: the environment's bytecode setting, no warm-up" if COLD else "bytecode cache on, one warm-up run"))
    rows: dict[str, tuple[float, float | None]] = {}
    for name, (arguments, goal) in COMMANDS.items():
        rows[name] = (medians(lambda a=arguments: {"s": command_seconds(a)}, args.runs)["s"], goal)
    for name, seconds in medians(viewer_seconds, args.runs).items():
        rows[VIEWER_NAMES[name]] = (seconds, VIEWER_GOALS[name])
    baseline = rows["python -c pass"][0]
    print(f"\n{'process':34s} {'median':>8s} {'× pass':>7s} {'goal':>7s}")
    for name, (seconds, goal) in rows.items():
        judged = f"≤ {goal:.1f} s {verdict(seconds <= goal)}" if goal is not None else ""
        print(f"{name:34s} {seconds:7.3f}s {seconds / baseline:6.1f}×  {judged}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
