"""phases' own peak finder and moving mean give what SciPy's would (SciPy is not imported there:
it costs every analysing process ~0.4 s; see tests/test_architecture.py)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import uniform_filter1d
from scipy.signal import find_peaks as scipy_find_peaks

from echoviewer.analysis.phases import find_peaks, moving_mean


@pytest.mark.parametrize("seed", range(200))
def test_peaks_are_scipys(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 300))
    # integer areas with plateaus and ties, as mask pixel counts have
    x = np.round(rng.normal(size=n).cumsum() * rng.uniform(1, 50) + 200 * np.sin(np.arange(n) / 5))
    if seed % 3 == 0:
        x = np.round(x / 40)  # coarse: long plateaus, many equal peaks
    distance = float(rng.uniform(1, 20))
    prominence = float(rng.uniform(0, 3) * (np.ptp(x) if n else 1) / 4)
    expected, _ = scipy_find_peaks(x, distance=distance, prominence=prominence)
    np.testing.assert_array_equal(find_peaks(x, distance=distance, prominence=prominence), expected)
    half = int(rng.integers(1, 5))
    if n:
        np.testing.assert_array_equal(moving_mean(x, half), uniform_filter1d(x, 2 * half + 1, mode="nearest"))
