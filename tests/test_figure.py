"""Figure-ready pictures: frame, time, ED/ES and a scale bar burned in; the area curve beside the
cine; the PNG at native resolution and the video with the curve."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from echoviewer.analysis import analyze, load_model
from echoviewer.analysis.figure import CURSOR_COLOUR, ED_COLOUR, burn_labels, curve_panel
from echoviewer.analysis.overlay import render_frame, write_figure_png, write_overlay_video
from echoviewer.io import load_cine
from echoviewer.resources import SAMPLE_CINE


@pytest.fixture(scope="module")
def analysis():
    return analyze(load_cine(SAMPLE_CINE), load_model("student"))


def longest_white_run(image: np.ndarray, rows: slice) -> int:
    white = np.all(image[rows] == 255, axis=2)
    best = 0
    for line in white:
        run = 0
        for pixel in line:
            run = run + 1 if pixel else 0
            best = max(best, run)
    return best


def test_labels_and_a_scale_bar_of_the_cines_own_calibration(analysis) -> None:
    index = analysis.ed_frames[0]
    plain = render_frame(analysis, index)
    labelled = burn_labels(plain, analysis, index)
    assert labelled.shape == plain.shape and not np.array_equal(labelled, plain)
    changed = np.any(labelled != plain, axis=2)
    height, width = changed.shape
    assert changed[: height // 8, : width // 3].any()  # frame and time, top left
    assert np.all(labelled[: height // 6, : width // 4] == ED_COLOUR, axis=2).any()  # "ED", in red
    assert not changed[height // 3: 2 * height // 3, width // 3: 2 * width // 3].any()  # the heart is untouched
    # the bar: 5 cm on this cine (the longest of 1, 2, 5, 10 cm in a fifth of the width)
    cm_per_px = analysis.cine.calibration.cm_per_px_x
    assert 5 / cm_per_px <= width / 5 < 10 / cm_per_px
    assert longest_white_run(labelled, slice(height - 20, height)) == pytest.approx(5 / cm_per_px, abs=2)
    # no calibration: said so, no bar
    plain_cine = replace(analysis.cine, calibration=None)
    uncalibrated = replace(analysis, cine=plain_cine)
    other = burn_labels(plain, uncalibrated, index)
    assert longest_white_run(other, slice(height - 20, height)) < 0.5 / cm_per_px


def test_the_curve_panel_shows_the_picks_and_follows_the_frame(analysis) -> None:
    def cursor_column(index: int) -> float:
        panel = curve_panel(analysis, index, 400)
        assert panel.shape == (400, 500, 3)
        return float(np.nonzero(np.all(panel == CURSOR_COLOUR, axis=2))[1].mean())

    early, late = cursor_column(5), cursor_column(50)
    assert late > early + 200
    panel = curve_panel(analysis, 5, 400)
    assert np.all(panel == ED_COLOUR, axis=2).sum() >= 30 * len(analysis.ed_frames)  # a red triangle each
    one = replace(analysis.cine, frames=analysis.cine.frames[:1])
    short = curve_panel(analyze(one, load_model("student")), 0, 200)
    assert not np.all(short == CURSOR_COLOUR, axis=2).any()  # no curve, no cursor: only the note


def test_the_figure_png_is_native_size_and_the_video_has_the_curve(tmp_path, analysis) -> None:
    index = analysis.es_frames[0]
    write_figure_png(tmp_path / "es.png", analysis, index)
    picture = cv2.cvtColor(cv2.imread(str(tmp_path / "es.png")), cv2.COLOR_BGR2RGB)
    assert picture.shape == (analysis.cine.height, analysis.cine.width, 3)
    # lossless, and black outside the imaging sector by default (burned-in names go)
    assert np.array_equal(picture, burn_labels(render_frame(analysis, index, sector=True), analysis, index))
    write_figure_png(tmp_path / "full.png", analysis, index, full_frame=True)
    full = cv2.cvtColor(cv2.imread(str(tmp_path / "full.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(full, burn_labels(render_frame(analysis, index), analysis, index))
    (tmp_path / "full.png").unlink()
    with pytest.raises(ValueError, match="outside"):
        write_figure_png(tmp_path / "x.png", analysis, analysis.cine.n_frames)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["es.png"]

    path = tmp_path / "curve.avi"
    write_overlay_video(path, analysis, labels=True, curve=True)
    video = load_cine(path)
    panel = curve_panel(analysis, 0, analysis.cine.height)
    assert video.n_frames == analysis.cine.n_frames
    assert video.width == analysis.cine.width + panel.shape[1] + (analysis.cine.width + panel.shape[1]) % 2
    right = video.display_frame(30)[:, analysis.cine.width:]
    assert right.mean() > 200  # the white curve panel beside the cine


def test_a_name_burned_into_the_pixels_is_black_in_figures_and_videos_unless_the_full_frame_is_asked(
        tmp_path) -> None:
    """Issue 20 (5): names burned into the pixels went straight into PNG and video exports, and
    BurnedInAnnotation was never read."""
    import pydicom

    from echoviewer.analysis import analyze, load_model
    from echoviewer.io import load_cine
    from echoviewer.resources import SAMPLE_CINE
    from tests.helpers import write_dicom

    frames = load_cine(SAMPLE_CINE).frames.copy()
    for index in range(len(frames)):  # a name in the top-left corner, as scanners burn one in
        cv2.putText(frames[index], "DOE^JOHN 12345", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 255, 2)
    path = write_dicom(tmp_path / "named.dcm", frames, fps=30.0, compression="none", cm_per_px=(0.046, 0.046))
    named = pydicom.dcmread(path)
    named.BurnedInAnnotation = "YES"
    named.save_as(path)
    analysis = analyze(load_cine(path), load_model("student"))
    assert "burned_in_annotation" in {flag.code for flag in analysis.flags}
    corner = (slice(5, 40), slice(5, 260))
    write_figure_png(tmp_path / "figure.png", analysis, 0, labels=False)
    write_figure_png(tmp_path / "full.png", analysis, 0, labels=False, full_frame=True)
    assert cv2.imread(str(tmp_path / "figure.png"))[corner].max() == 0  # the name is gone
    assert cv2.imread(str(tmp_path / "full.png"))[corner].max() > 200  # kept only when asked
    write_overlay_video(tmp_path / "video.avi", analysis)
    video = load_cine(tmp_path / "video.avi")
    assert video.frames[0][corner].max() < 40  # MJPEG: black but for compression noise
