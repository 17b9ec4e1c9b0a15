"""LV overlays on frames, and the overlay video export."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from echoviewer.analysis import analyze, load_model
from echoviewer.analysis.overlay import (DISAGREEMENT_COLOUR, DISAGREEMENT_MIN_OPACITY, LV_COLOUR,
                                         OVERLAY_MODES, ExportCancelled, contour_thickness,
                                         draw_overlay, write_overlay_video)
from echoviewer.io import load_cine
from echoviewer.resources import SAMPLE_CINE
from tests.helpers import moving_frames, write_dicom

GREY = 100


def disc(shape: tuple[int, int], centre: tuple[int, int], radius: int) -> np.ndarray:
    ys, xs = np.mgrid[:shape[0], :shape[1]]
    return (ys - centre[0]) ** 2 + (xs - centre[1]) ** 2 < radius ** 2


def shrink(mask: np.ndarray, pixels: int) -> np.ndarray:
    return cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=pixels).astype(bool)


def grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    return cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=pixels).astype(bool)


def blended(colour, opacity: float = 0.4, under: int = GREY) -> np.ndarray:
    return (under * (1 - opacity) + np.array(colour, np.float32) * opacity + 0.5).astype(np.uint8)


def is_colour(image: np.ndarray, colour) -> np.ndarray:
    return np.all(image == np.array(colour, np.uint8), axis=-1)


@pytest.fixture(params=["grey", "rgb"])
def frame(request) -> np.ndarray:
    grey = np.full((100, 120), GREY, np.uint8)
    return grey if request.param == "grey" else np.repeat(grey[..., None], 3, axis=-1)


MASK = disc((100, 120), (50, 60), 25)


def test_fill_blends_inside_outlines_the_edge_and_leaves_the_outside(frame) -> None:
    before = frame.copy()
    image = draw_overlay(frame, MASK, mode="fill", opacity=0.4)
    assert image.dtype == np.uint8 and image.shape == (100, 120, 3)
    assert np.array_equal(frame, before)  # a new image
    assert np.all(image[shrink(MASK, 2)] == blended(LV_COLOUR))
    assert np.all(image[~MASK] == GREY)
    outline = is_colour(image, LV_COLOUR)
    assert outline.sum() > 100 and not np.any(outline & shrink(MASK, 1))


def test_contour_only_outlines(frame) -> None:
    image = draw_overlay(frame, MASK, mode="contour")
    outline = is_colour(image, LV_COLOUR)
    assert outline.sum() > 100
    assert not np.any(outline & (shrink(MASK, 2) | ~grow(MASK, 1)))
    assert np.all(image[~outline] == GREY)  # nothing blended


def test_contour_thickness_scales_with_the_frame() -> None:
    assert contour_thickness((100, 120)) == 1 and contour_thickness((600, 800, 3)) == 2
    mask = disc((600, 800), (300, 400), 150)
    thick = is_colour(draw_overlay(np.full((600, 800), GREY, np.uint8), mask, mode="contour"), LV_COLOUR)
    thin = is_colour(draw_overlay(np.full((600, 800), GREY, np.uint8), mask, mode="fill"), LV_COLOUR)
    assert thick.sum() > 1.8 * thin.sum()


def test_hidden_and_missing_masks_draw_nothing(frame) -> None:
    other = np.roll(MASK, 15, axis=1)
    for image in (draw_overlay(frame, MASK, mode="hidden", other=other), draw_overlay(frame, None)):
        assert image.shape == (100, 120, 3) and np.all(image == GREY)


@pytest.mark.parametrize("mode", ["fill", "contour"])
def test_disagreement_with_another_mask(frame, mode) -> None:
    other = np.roll(MASK, 15, axis=1)
    image = draw_overlay(frame, MASK, mode=mode, other=other, opacity=0.5)
    only_one = shrink(MASK & ~other, 2) | shrink(other & ~MASK, 2)
    assert only_one.sum() > 200
    # Never fainter than DISAGREEMENT_MIN_OPACITY, so a thin band stays visible.
    assert np.all(image[only_one] == blended(DISAGREEMENT_COLOUR, DISAGREEMENT_MIN_OPACITY))
    both = shrink(MASK & other, 2)
    assert np.all(image[both] == (blended(LV_COLOUR, 0.5) if mode == "fill" else GREY))
    assert np.all(image[~grow(MASK | other, 1)] == GREY)


def test_rgb_content_is_kept() -> None:
    rgb = np.zeros((100, 120, 3), np.uint8)
    rgb[..., 1] = 200
    image = draw_overlay(rgb, MASK, mode="fill", opacity=0.0)
    inside = shrink(MASK, 2)
    assert np.array_equal(image[~MASK], rgb[~MASK]) and np.array_equal(image[inside], rgb[inside])


@pytest.mark.parametrize("kwargs, message", [
    ({"mode": "outline"}, "fill, contour, hidden"),
    ({"opacity": 1.5}, "opacity"),
    ({"other": np.zeros((10, 10), bool)}, "other has shape"),
])
def test_bad_arguments(frame, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        draw_overlay(frame, MASK, **kwargs)
    assert OVERLAY_MODES == ("fill", "contour", "hidden")


def test_wrong_mask_size_and_frame_type() -> None:
    with pytest.raises(ValueError, match="mask has shape"):
        draw_overlay(np.zeros((10, 12), np.uint8), MASK)
    with pytest.raises(ValueError, match="uint8"):
        draw_overlay(np.zeros((100, 120), np.float32), MASK)


# --- video export --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def analysis():
    return analyze(load_cine(SAMPLE_CINE), load_model("student"))


def _red_minus_blue(image: np.ndarray, where: np.ndarray) -> float:
    return float(np.mean(image[where][:, 0].astype(int) - image[where][:, 2]))


@pytest.mark.parametrize("suffix", [".avi", ".mp4"])
def test_video_has_every_frame_with_the_overlay(tmp_path, analysis, suffix) -> None:
    path = tmp_path / f"overlay{suffix}"
    calls = []
    write_overlay_video(path, analysis, progress=lambda done, total: calls.append((done, total)))
    total = analysis.cine.n_frames
    assert calls == [(done, total) for done in range(1, total + 1)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]

    video = load_cine(path)
    assert video.n_frames == total and video.colour is not None
    assert (video.height, video.width) == (analysis.cine.height, analysis.cine.width)  # even already
    assert video.timing.fps == pytest.approx(analysis.cine.timing.fps, rel=1e-3)
    index = analysis.ed_frames[0]
    mask, raw, shown = analysis.segmentation.native_mask(index), analysis.cine.display_frame(index), \
        video.display_frame(index)
    inside, outside = shrink(mask, 4), ~grow(mask, 10)
    assert raw.ndim == 2 and inside.sum() > 1000
    assert _red_minus_blue(shown, inside) > 60  # (255, 80, 40) at 0.4: +86
    assert abs(_red_minus_blue(shown, outside)) < 5
    assert np.abs(video.frames[index][outside].astype(int) - raw[outside]).mean() < 6  # codec loss only


@pytest.mark.slow
def test_comparison_disagreement_in_the_video(tmp_path, analysis) -> None:
    segmentation = analysis.segmentation
    shifted = replace(segmentation, soft=np.roll(segmentation.soft, 12, axis=2))
    compared = replace(analysis, comparison=shifted)
    index = analysis.ed_frames[0]
    only_other = shrink(shifted.native_mask(index) & ~segmentation.native_mask(index), 3)
    assert only_other.sum() > 500
    green_deficit = {}
    for compare in (False, True):
        path = tmp_path / f"compare_{compare}.avi"
        write_overlay_video(path, compared, compare=compare)
        shown = load_cine(path).display_frame(index)
        green_deficit[compare] = float(np.mean(shown[only_other][:, [0, 2]].mean(axis=1)
                                               - shown[only_other][:, 1]))
    assert green_deficit[True] > 60 and abs(green_deficit[False]) < 10  # magenta only when asked


def test_odd_sizes_are_padded_not_cropped(tmp_path) -> None:
    frames = moving_frames(n_frames=6, rows=63, cols=81)
    odd = analyze(load_cine(write_dicom(tmp_path / "odd.dcm", frames)), load_model("student"))
    for suffix in (".mp4", ".avi"):
        write_overlay_video(tmp_path / f"odd{suffix}", odd, mode="hidden")
        video = load_cine(tmp_path / f"odd{suffix}")
        assert video.frames.shape == (6, 64, 82)
        assert np.abs(video.frames[:, :63, :81].astype(int) - odd.cine.frames).mean() < 6


@pytest.mark.parametrize("suffix", [".avi", ".mp4"])
def test_cancelling_leaves_no_file(tmp_path, analysis, suffix) -> None:
    done = []
    with pytest.raises(ExportCancelled, match="cancelled"):
        write_overlay_video(tmp_path / f"overlay{suffix}", analysis,
                            progress=lambda d, total: done.append(d), cancelled=lambda: len(done) >= 3)
    assert done == [1, 2, 3]
    assert list(tmp_path.iterdir()) == []


def test_cancelling_keeps_an_earlier_export(tmp_path, analysis) -> None:
    path = tmp_path / "overlay.avi"
    path.write_bytes(b"earlier export")
    with pytest.raises(ExportCancelled):
        write_overlay_video(path, analysis, cancelled=lambda: True)
    assert [p.name for p in tmp_path.iterdir()] == [path.name] and path.read_bytes() == b"earlier export"


def test_bad_suffix_mode_and_folder(tmp_path, analysis) -> None:
    with pytest.raises(ValueError, match=r"use \.mp4 or \.avi"):
        write_overlay_video(tmp_path / "overlay.gif", analysis)
    with pytest.raises(ValueError, match="fill, contour, hidden"):
        write_overlay_video(tmp_path / "overlay.avi", analysis, mode="outline")
    with pytest.raises(OSError, match="cannot write"):
        write_overlay_video(tmp_path / "missing" / "overlay.avi", analysis)
    assert list(tmp_path.iterdir()) == []
