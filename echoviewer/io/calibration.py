"""Physical calibration and imaging rectangle from the Sequence of Ultrasound Regions (PS3.3 C.8.5.5).

Rules (learnt from calibration bugs in Weasis, OHIF and VolView): only a 2D tissue region counts,
never simply the first region; both axes must be in cm; X and Y are kept apart; a region nested in
another (a colour box) does not compete; several 2D tissue regions with different pixel sizes and
no clear winner leave the cine uncalibrated rather than guessing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from echoviewer.io.cine import Calibration
from echoviewer.io.sector import ImagingRegion

SPATIAL_2D = 1
DATA_TISSUE = 1
UNITS_CM = 3
_SAME_SCALE_TOLERANCE = 0.005  # relative; vendors round the same scale differently
_CLEAR_WINNER_AREA_RATIO = 2.0

_UNIT_NAMES = {0: "none", 1: "percent", 2: "dB", 3: "cm", 4: "seconds", 5: "hertz", 6: "dB/s",
               7: "cm/s", 8: "cm²", 9: "cm²/s", 10: "cm³", 11: "cm³/s", 12: "degrees"}


@dataclass(frozen=True)
class UltrasoundRegion:
    index: int
    spatial_format: int
    data_type: int
    x0: int
    y0: int
    x1: int
    y1: int
    units_x: int
    units_y: int
    delta_x: float
    delta_y: float

    @property
    def area(self) -> int:
        return max(0, self.x1 - self.x0 + 1) * max(0, self.y1 - self.y0 + 1)

    def contains(self, other: UltrasoundRegion) -> bool:
        return (self.x0 <= other.x0 and self.y0 <= other.y0
                and self.x1 >= other.x1 and self.y1 >= other.y1)

    @property
    def is_2d_tissue(self) -> bool:
        return self.spatial_format == SPATIAL_2D and self.data_type == DATA_TISSUE

    @property
    def has_cm_scale(self) -> bool:
        return (self.units_x == UNITS_CM and self.units_y == UNITS_CM
                and all(math.isfinite(d) and d > 0 for d in (self.delta_x, self.delta_y)))


def _int(item: Any, keyword: str, default: int = 0) -> int:
    try:
        return int(item.get(keyword, default))
    except (TypeError, ValueError):
        return default


def _float(item: Any, keyword: str) -> float:
    try:
        return abs(float(item.get(keyword, math.nan)))
    except (TypeError, ValueError):
        return math.nan


def parse_regions(ds: Any) -> list[UltrasoundRegion]:
    """Every item of the Sequence of Ultrasound Regions, malformed values made harmless."""
    regions = []
    for index, item in enumerate(ds.get("SequenceOfUltrasoundRegions") or []):
        regions.append(UltrasoundRegion(
            index=index,
            spatial_format=_int(item, "RegionSpatialFormat"),
            data_type=_int(item, "RegionDataType"),
            x0=_int(item, "RegionLocationMinX0"), y0=_int(item, "RegionLocationMinY0"),
            x1=_int(item, "RegionLocationMaxX1"), y1=_int(item, "RegionLocationMaxY1"),
            units_x=_int(item, "PhysicalUnitsXDirection"),
            units_y=_int(item, "PhysicalUnitsYDirection"),
            delta_x=_float(item, "PhysicalDeltaX"), delta_y=_float(item, "PhysicalDeltaY")))
    return regions


def _same_scale(a: UltrasoundRegion, b: UltrasoundRegion) -> bool:
    return (math.isclose(a.delta_x, b.delta_x, rel_tol=_SAME_SCALE_TOLERANCE)
            and math.isclose(a.delta_y, b.delta_y, rel_tol=_SAME_SCALE_TOLERANCE))


def _label(region: UltrasoundRegion, total: int) -> str:
    return f"US region {region.index + 1} of {total} (2D tissue)"


def _clip(region: UltrasoundRegion, width: int, height: int, source: str) -> ImagingRegion | None:
    x0, y0 = max(0, region.x0), max(0, region.y0)
    x1, y1 = min(width - 1, region.x1), min(height - 1, region.y1)
    if x1 <= x0 or y1 <= y0:
        return None
    return ImagingRegion(x0, y0, x1, y1, source)


def _pixel_spacing(ds: Any) -> Calibration | None:
    spacing = ds.get("PixelSpacing")
    try:
        row_mm, col_mm = (float(v) for v in spacing)
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(v) and v > 0 for v in (row_mm, col_mm)):
        return None
    return Calibration(col_mm / 10.0, row_mm / 10.0, "PixelSpacing (no ultrasound regions)")


def dicom_calibration(ds: Any, width: int, height: int
                      ) -> tuple[Calibration | None, str, ImagingRegion | None]:
    """(calibration or None, a note saying how it was chosen or why there is none, region)."""
    regions = parse_regions(ds)
    if not regions:
        calibration = _pixel_spacing(ds)
        if calibration is not None:
            return calibration, "from PixelSpacing; no Sequence of Ultrasound Regions", None
        return None, "no Sequence of Ultrasound Regions and no PixelSpacing", None

    tissue = [r for r in regions if r.is_2d_tissue and r.area > 0]
    if not tissue:
        kinds = ", ".join(f"format {r.spatial_format}/type {r.data_type}" for r in regions)
        return None, f"no 2D tissue region among {len(regions)} ultrasound regions ({kinds})", None
    # A region inside another (a zoom or colour box drawn over the B-mode) does not compete.
    outer = [r for r in tissue if not any(o is not r and o.contains(r) and o.area > r.area
                                          for o in tissue)]
    outer.sort(key=lambda r: r.area, reverse=True)
    best = outer[0]
    label = _label(best, len(regions))
    region = _clip(best, width, height, label)

    if not best.has_cm_scale:
        units = f"{_UNIT_NAMES.get(best.units_x, best.units_x)}/{_UNIT_NAMES.get(best.units_y, best.units_y)}"
        return None, f"{label} is not in cm (units {units})", region
    rivals = [r for r in outer[1:] if not _same_scale(r, best)]
    if rivals and best.area < _CLEAR_WINNER_AREA_RATIO * rivals[0].area:
        return (None, f"{len(outer)} 2D tissue regions with different pixel sizes "
                      "(dual display?); calibration ambiguous", region)
    note = label
    if len(outer) > 1:
        note += f"; largest of {len(outer)} 2D tissue regions"
    calibration = Calibration(best.delta_x, best.delta_y, label)
    spacing = _pixel_spacing(ds)
    if spacing is not None and not math.isclose(spacing.cm_per_px_x, best.delta_x, rel_tol=0.02):
        note += "; PixelSpacing disagrees and was ignored"
    return calibration, note, region
