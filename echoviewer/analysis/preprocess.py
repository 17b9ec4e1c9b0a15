"""The model view of a cine, as EchoNet prepares its videos, and the way back to native pixels.

The square the models see spans the imaging sector's height and is centred on its apex (the middle
of the sector's top row: the axis of the fan even when one side of it is too dark to be detected).
A fan wider than it is deep loses its lateral corners, as in EchoNet's videos; black pads what lies
outside the image. Frames shrink with area averaging, masks with nearest neighbour; soft masks grow
back with bilinear interpolation, so a threshold on them gives a smooth native outline.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from echoviewer.io import Cine

MODEL_SIZE = 112


@dataclass(frozen=True)
class SquareCrop:
    """The square (``top``, ``left``, ``side``) of a ``height`` × ``width`` native frame that is
    resized to the model's input; it may reach outside the frame (padded black)."""

    top: int
    left: int
    side: int
    height: int
    width: int

    @classmethod
    def of_sector(cls, sector: np.ndarray) -> SquareCrop:
        height, width = sector.shape
        ys, xs = np.nonzero(sector)
        if not ys.size:
            side = min(height, width)
            return cls((height - side) // 2, (width - side) // 2, side, height, width)
        top = int(ys.min())
        apex = xs[ys == top]
        centre = (apex.min() + apex.max() + 1) / 2
        side = int(ys.max() + 1 - top)
        return cls(top, int(round(centre - side / 2)), side, height, width)

    def _overlap(self) -> tuple[slice, slice, slice, slice]:
        """(native rows, native cols, square rows, square cols) where the square meets the frame."""
        y0, x0 = max(self.top, 0), max(self.left, 0)
        y1, x1 = min(self.top + self.side, self.height), min(self.left + self.side, self.width)
        return (slice(y0, y1), slice(x0, x1),
                slice(y0 - self.top, y1 - self.top), slice(x0 - self.left, x1 - self.left))

    def to_model(self, stack: np.ndarray, size: tuple[int, int] = (MODEL_SIZE, MODEL_SIZE),
                 interpolation: int = cv2.INTER_AREA) -> np.ndarray:
        """Cut the square out of every native (H, W) slice of ``stack`` and resize it to ``size``
        (height, width)."""
        rows, cols, square_rows, square_cols = self._overlap()
        canvas = np.zeros((self.side, self.side), stack.dtype)
        out = np.empty((stack.shape[0], *size), stack.dtype)
        for index, image in enumerate(stack):
            canvas[square_rows, square_cols] = image[rows, cols]
            out[index] = cv2.resize(canvas, size[::-1], interpolation=interpolation)
        return out

    def to_native(self, stack: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
        """Model-view (T, h, w) images back on the native (T, H, W) grid; zero outside the square."""
        rows, cols, square_rows, square_cols = self._overlap()
        out = np.zeros((stack.shape[0], self.height, self.width), stack.dtype)
        for index, image in enumerate(stack):
            out[index][rows, cols] = cv2.resize(image, (self.side, self.side),
                                                interpolation=interpolation)[square_rows, square_cols]
        return out


def model_view(cine: Cine, size: tuple[int, int] = (MODEL_SIZE, MODEL_SIZE)
               ) -> tuple[np.ndarray, np.ndarray, SquareCrop]:
    """The cine as a model sees it: uint8 (T, h, w) frames, the sector mask at that size, and the
    crop that maps masks back. A cine already of the model's size (an EchoNet AVI) is its own view."""
    return view_of(cine.frames, cine.sector_mask, size)


def view_of(frames: np.ndarray, sector: np.ndarray, size: tuple[int, int] = (MODEL_SIZE, MODEL_SIZE)
            ) -> tuple[np.ndarray, np.ndarray, SquareCrop]:
    """:func:`model_view` of (T, H, W) frames whose imaging sector is ``sector`` (H, W)."""
    if frames.shape[1:] == size and size[0] == size[1]:
        return frames, sector, SquareCrop(0, 0, size[0], size[0], size[0])
    crop = SquareCrop.of_sector(sector)
    model_sector = crop.to_model(sector[None].astype(np.uint8), size, cv2.INTER_NEAREST)[0] > 0
    return crop.to_model(frames, size), model_sector, crop
