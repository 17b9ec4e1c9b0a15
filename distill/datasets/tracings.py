"""EchoNet ``VolumeTracings`` geometry: a long axis plus chords across the left ventricle.

A traced frame is ``K`` rows ``(X1, Y1, X2, Y2)`` in pixel coordinates (x = column, y = row):
row 0 is the long axis from the apex to the middle of the mitral annulus, rows 1..K-1 are chords
perpendicular to it, from the apex towards the annulus, each from its image-left end to its
image-right end. EchoNet-Dynamic stores 21 rows per frame (20 chords).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_EDGE_TOLERANCE = 1e-9  # chords through a contour vertex must still meet its edges


def tracing_from_contour(polygon_xy: np.ndarray, apex_xy: Sequence[float] | np.ndarray,
                         annulus_xy: tuple[Sequence[float] | np.ndarray, Sequence[float] | np.ndarray],
                         n_chords: int = 20) -> np.ndarray:
    """The EchoNet tracing of a closed LV contour, shape ``(n_chords + 1, 4)`` float64.

    Chord ``k`` (1-based) crosses the long axis at fraction ``k / n_chords`` from the apex, so
    the last chord lies on the annulus and the polygon of :func:`mask_from_tracing` misses only
    the apical cap. Each chord ends at the contour crossing farthest from the long axis on its
    side (the outermost wall, also for concave contours); a side without a crossing ends on the
    long axis.
    """
    contour = np.asarray(polygon_xy, dtype=np.float64).reshape(-1, 2)
    apex = np.asarray(apex_xy, dtype=np.float64)
    base = (np.asarray(annulus_xy[0], np.float64) + np.asarray(annulus_xy[1], np.float64)) / 2
    axis = base - apex
    length = float(np.hypot(*axis))
    if length == 0.0:
        raise ValueError("the apex and the middle of the mitral annulus coincide")
    left = np.array([axis[1], -axis[0]]) / length  # the unit normal towards the image left
    if left[0] > 0 or (left[0] == 0 and left[1] > 0):  # (towards the top for a horizontal axis)
        left = -left
    rows = np.empty((n_chords + 1, 4))
    rows[0] = (*apex, *base)
    starts, ends = contour, np.roll(contour, -1, axis=0)
    edges = ends - starts
    for k in range(1, n_chords + 1):
        centre = apex + axis * (k / n_chords)
        # Solve centre + d * left = start + s * edge for every edge at once (Cramer's rule).
        offset = starts - centre
        det = edges[:, 0] * left[1] - edges[:, 1] * left[0]
        usable = np.abs(det) > 1e-12
        safe = np.where(usable, det, 1.0)
        s = (offset[:, 1] * left[0] - offset[:, 0] * left[1]) / safe
        d = (edges[:, 0] * offset[:, 1] - edges[:, 1] * offset[:, 0]) / safe
        hits = d[usable & (s >= -_EDGE_TOLERANCE) & (s <= 1 + _EDGE_TOLERANCE)]
        reach_left = max(hits.max(initial=0.0), 0.0)
        reach_right = min(hits.min(initial=0.0), 0.0)
        rows[k] = (*(centre + reach_left * left), *(centre + reach_right * left))
    return rows


def _outline(rows: np.ndarray) -> np.ndarray:
    """EchoNet's polygon: left ends of the chords apex → annulus, then right ends back."""
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([rows[1:, 0:2], rows[:0:-1, 2:4]])


def _fill_pixel_centres(vertices: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pixels whose centre lies inside or on the polygon (``skimage.draw.polygon``'s rule)."""
    mask = np.zeros(shape, dtype=bool)
    left, top = np.maximum(np.floor(vertices.min(axis=0)), 0).astype(int)
    right, bottom = np.minimum(np.ceil(vertices.max(axis=0)), (shape[1] - 1, shape[0] - 1)).astype(int)
    if right < left or bottom < top:
        return mask
    py, px = (grid[..., None] for grid in np.mgrid[top:bottom + 1, left:right + 1])
    (ax, ay), (bx, by) = vertices.T, np.roll(vertices, -1, axis=0).T
    with np.errstate(divide="ignore", invalid="ignore"):  # horizontal edges never straddle
        crossing_x = ax + (py - ay) * (bx - ax) / (by - ay)
    inside = (((ay > py) != (by > py)) & (px < crossing_x)).sum(axis=-1) % 2 == 1
    on_edge = (((bx - ax) * (py - ay) == (by - ay) * (px - ax))
               & (np.minimum(ax, bx) <= px) & (px <= np.maximum(ax, bx))
               & (np.minimum(ay, by) <= py) & (py <= np.maximum(ay, by))).any(axis=-1)
    mask[top:bottom + 1, left:right + 1] = inside | on_edge
    return mask


def mask_from_tracing(rows: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The LV mask EchoNet derives from a traced frame: bool array of ``shape`` (rows, cols).

    As in EchoNet the vertices are rounded to whole pixels and a pixel belongs to the mask when
    its centre lies inside the polygon or on its border (``skimage.draw.polygon``, reimplemented
    with numpy). ``cv2.fillPoly`` is not used: it also paints every pixel its outline touches,
    which makes a 112×112 LV mask about 4 % larger than EchoNet's.
    """
    outline = _outline(rows)
    if len(outline) < 3 or not np.isfinite(outline).all():
        return np.zeros(shape, dtype=bool)
    return _fill_pixel_centres(np.rint(outline), shape)


def tracing_area(rows: np.ndarray) -> float:
    """Area in px² of the polygon :func:`mask_from_tracing` fills (unrounded vertices, shoelace)."""
    x, y = _outline(rows).T
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)
