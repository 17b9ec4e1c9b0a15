"""An LV outline the user can edit: a closed polygon of control points with its landmarks.

The points (native pixels, x and y) run from one mitral hinge round the apex to the other hinge;
the segment from the last point back to the first is the mitral line, straight across the annulus
as clinical contours close it (ASE/EACVI). So the hinges are always the first and last points, and
``apex`` is the index of the apical point. A contour is made from a model's mask
(:meth:`Contour.from_mask`, landmarks from :func:`~echoviewer.analysis.geometry.long_axis`), edited
point by point (each edit returns a new contour) and filled back into a mask on the cine's grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from echoviewer.analysis.geometry import LongAxis, largest_component, long_axis

POINTS = 24  # control points of a contour made from a mask
MIN_POINTS = 6
SPLINE_SAMPLES = 8  # outline vertices per segment between two control points
_SUBPIXEL_BITS = 4  # cv2.fillPoly's fixed-point shift: vertices to 1/16 px
# OpenCV's outline runs through the centres of the mask's edge pixels; the mask's border lies half a
# pixel further out, and a contour placed there fills back to the mask's own area.
BORDER_PX = 0.5


def _resampled(path: np.ndarray, n: int) -> np.ndarray:
    """``n`` points evenly spaced by arc length along the open polyline ``path`` (both ends kept)."""
    steps = np.hypot(*np.diff(path, axis=0).T)
    along = np.concatenate([[0.0], np.cumsum(steps)])
    if along[-1] <= 0:
        return np.repeat(path[:1], n, axis=0)
    targets = np.linspace(0.0, along[-1], n)
    return np.stack([np.interp(targets, along, path[:, k]) for k in (0, 1)], axis=1)


def _outward(points: np.ndarray, distance: float) -> np.ndarray:
    """The closed polygon's points moved ``distance`` along their outward normals."""
    tangent = np.roll(points, -1, axis=0) - np.roll(points, 1, axis=0)
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
    normal /= np.maximum(np.hypot(*normal.T), 1e-12)[:, None]
    x, y = points.T
    signed_area = 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))
    return points + (distance if signed_area > 0 else -distance) * normal


@dataclass(frozen=True, eq=False)
class Contour:
    """Control points (N, 2) float (x, y) native pixels: hinge, …, apex, …, hinge."""

    points: np.ndarray
    apex: int

    def __post_init__(self) -> None:
        points = np.asarray(self.points, float)
        if points.ndim != 2 or points.shape[1] != 2 or len(points) < MIN_POINTS:
            raise ValueError(f"a contour needs at least {MIN_POINTS} (x, y) points; got shape {points.shape}")
        if not np.isfinite(points).all():
            raise ValueError("contour points must be finite")
        if not 0 < self.apex < len(points) - 1:
            raise ValueError(f"the apex must be an inner point (1-{len(points) - 2}); got {self.apex}")
        points.flags.writeable = False
        object.__setattr__(self, "points", points)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Contour) and self.apex == other.apex and np.array_equal(self.points, other.points)

    def __hash__(self) -> int:
        return hash((self.apex, self.points.tobytes()))

    @property
    def hinges(self) -> tuple[tuple[float, float], tuple[float, float]]:
        (x0, y0), (x1, y1) = self.points[0], self.points[-1]
        return (float(x0), float(y0)), (float(x1), float(y1))

    @property
    def landmarks(self) -> tuple[int, int, int]:
        """Indices of the first hinge, the apex and the second hinge."""
        return 0, self.apex, len(self.points) - 1

    @classmethod
    def from_mask(cls, mask: np.ndarray, n: int = POINTS) -> Contour | None:
        """The outline of the mask's largest piece through its long axis's landmarks, ``n`` points;
        None for a mask too small to have a long axis."""
        axis = long_axis(mask)
        if axis is None:
            return None
        piece = largest_component(mask)
        found, _ = cv2.findContours(piece.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        outline = max(found, key=len).reshape(-1, 2).astype(float)

        def nearest(point: tuple[float, float]) -> int:
            return int(np.argmin(np.hypot(*(outline - np.asarray(point)).T)))

        first, apex, last = nearest(axis.annulus[0]), nearest(axis.apex), nearest(axis.annulus[1])
        # Walk from the first hinge to the last one the way round that passes the apex.
        size = len(outline)
        forward = (apex - first) % size < (last - first) % size
        step = 1 if forward else -1

        def walk(start: int, stop: int) -> np.ndarray:
            count = (stop - start) * step % size
            return outline[(start + step * np.arange(count + 1)) % size]

        half = max(n // 2, MIN_POINTS // 2)
        to_apex, from_apex = _resampled(walk(first, apex), half + 1), _resampled(walk(apex, last), n - half)
        return cls(_outward(np.concatenate([to_apex, from_apex[1:]]), BORDER_PX), apex=half)

    def outline(self, per_segment: int = SPLINE_SAMPLES) -> np.ndarray:
        """The drawn outline, (M, 2): a smooth curve through the points from hinge to hinge (a cubic
        spline over the chord length, as clinical tools draw it), closed by the straight mitral line."""
        from scipy.interpolate import CubicSpline  # ~0.35 s to import: only once a contour is drawn

        steps = np.maximum(np.hypot(*np.diff(self.points, axis=0).T), 1e-6)
        knots = np.concatenate([[0.0], np.cumsum(steps)])
        spline = CubicSpline(knots, self.points, bc_type="natural")
        return spline(np.linspace(0.0, knots[-1], per_segment * (len(self.points) - 1) + 1))

    def mask(self, shape: tuple[int, int]) -> np.ndarray:
        """The filled outline as a boolean (rows, cols) mask, its vertices placed to 1/16 pixel."""
        scale = 1 << _SUBPIXEL_BITS
        vertices = np.round(self.outline() * scale).astype(np.int32)
        canvas = np.zeros(shape, np.uint8)
        cv2.fillPoly(canvas, [vertices], 1, lineType=cv2.LINE_8, shift=_SUBPIXEL_BITS)
        return canvas.astype(bool)

    def long_axis(self, spacing: tuple[float, float] = (1.0, 1.0)) -> LongAxis:
        """The long axis from the contour's own landmarks (apex to the mitral line's midpoint)."""
        (x0, y0), (x1, y1) = self.hinges
        apex = (float(self.points[self.apex, 0]), float(self.points[self.apex, 1]))
        dx = (apex[0] - (x0 + x1) / 2) * spacing[0]
        dy = (apex[1] - (y0 + y1) / 2) * spacing[1]
        return LongAxis(apex, ((x0, y0), (x1, y1)), float(np.hypot(dx, dy)))

    # Edits: each returns a new contour.
    def moved(self, index: int, x: float, y: float) -> Contour:
        """Point ``index`` (a landmark too) moved to (x, y)."""
        if not 0 <= index < len(self.points):
            raise ValueError(f"no point {index}; the contour has {len(self.points)}")
        points = self.points.copy()
        points[index] = (x, y)
        return Contour(points, self.apex)

    def nearest_segment(self, x: float, y: float) -> tuple[int, float]:
        """The outline segment (i: from point i to i + 1; the mitral line is not one) nearest to
        (x, y), and the distance to it in pixels."""
        start, end = self.points[:-1], self.points[1:]
        direction = end - start
        length2 = np.maximum((direction ** 2).sum(axis=1), 1e-12)
        t = np.clip(((np.array([x, y]) - start) * direction).sum(axis=1) / length2, 0.0, 1.0)
        distance = np.hypot(*(start + t[:, None] * direction - np.array([x, y])).T)
        segment = int(np.argmin(distance))
        return segment, float(distance[segment])

    def inserted(self, x: float, y: float) -> tuple[Contour, int]:
        """A new point at (x, y) on the nearest segment of the outline (never on the mitral line,
        which stays straight between the hinges); the new contour and the point's index."""
        index = self.nearest_segment(x, y)[0] + 1
        points = np.insert(self.points, index, (x, y), axis=0)
        return Contour(points, self.apex + (1 if index <= self.apex else 0)), index

    def removed(self, index: int) -> Contour:
        """Point ``index`` removed; the hinges and the apex cannot be, nor a point of the last six."""
        if index in self.landmarks:
            raise ValueError("a hinge or the apex cannot be removed; move it instead")
        if len(self.points) <= MIN_POINTS:
            raise ValueError(f"a contour keeps at least {MIN_POINTS} points")
        if not 0 <= index < len(self.points):
            raise ValueError(f"no point {index}; the contour has {len(self.points)}")
        return Contour(np.delete(self.points, index, axis=0), self.apex - (1 if index < self.apex else 0))

    def as_dict(self) -> dict:
        return {"points": [[float(x), float(y)] for x, y in self.points], "apex": self.apex}

    @classmethod
    def from_dict(cls, data: object) -> Contour:
        """From :meth:`as_dict`'s form; ValueError for anything else."""
        if not isinstance(data, dict) or set(data) != {"points", "apex"} or type(data["apex"]) is not int:
            raise ValueError("a contour is {'points': [[x, y], ...], 'apex': index}")
        points = data["points"]
        if not isinstance(points, list) or not all(
                isinstance(p, list) and len(p) == 2 and all(type(v) in (int, float) for v in p) for p in points):
            raise ValueError("contour points must be [x, y] number pairs")
        return cls(np.array(points, float), data["apex"])
