"""Structural check of a JPEG / JPEG-LS codestream's header before a native decoder sees it.

Written by hand because gdcm, pydicom's decoder for JPEG Lossless and its JPEG Baseline fallback,
segfaults or aborts the whole process on some malformed headers (found by tests/test_fuzz.py: a
bad sample precision, broken segment lengths, a damaged quantisation table). Walking the markers
up to the first scan costs microseconds and turns those inputs into a clear error. Entropy-coded
data after the scan header is not examined (damage there did not crash any decoder).
"""

from __future__ import annotations

_SOI, _SOS, _DHT, _DQT, _DRI = 0xD8, 0xDA, 0xC4, 0xDB, 0xDD
_STANDALONE = {0x01, *range(0xD0, 0xDA)}  # TEM, RSTn, SOI, EOI carry no length
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7}
_PRECISIONS = {0xC0: {8}, 0xC1: {8, 12}, 0xC2: {8, 12}, 0xC9: {8, 12}, 0xCA: {8, 12}}
_LOSSLESS_PRECISIONS = set(range(2, 17))  # SOF3/7/11/15 and JPEG-LS (SOF55)


class JpegStructureError(ValueError):
    """The codestream's header is malformed."""


def _u16(data: bytes, at: int) -> int:
    return (data[at] << 8) | data[at + 1]


def _check_sof(marker: int, body: bytes) -> set[int]:
    if len(body) < 6:
        raise JpegStructureError("frame header too short")
    precision, width, components = body[0], _u16(body, 3), body[5]
    if precision not in _PRECISIONS.get(marker, _LOSSLESS_PRECISIONS):
        raise JpegStructureError(f"sample precision {precision} is invalid for this JPEG process")
    if width == 0 or not 1 <= components <= 4 or len(body) != 6 + 3 * components:
        raise JpegStructureError("frame header has an invalid size or component count")
    ids = set()
    for index in range(components):
        ident, sampling, table = body[6 + 3 * index: 9 + 3 * index]
        if not (1 <= sampling >> 4 <= 4 and 1 <= sampling & 15 <= 4) or table > 3:
            raise JpegStructureError("frame header has invalid sampling factors or table ids")
        ids.add(ident)
    return ids


def _check_dqt(body: bytes) -> None:
    at = 0
    while at < len(body):
        precision, table = body[at] >> 4, body[at] & 15
        size = 1 + 64 * (precision + 1)
        if precision > 1 or table > 3 or at + size > len(body):
            raise JpegStructureError("quantisation table is malformed")
        at += size


def _check_dht(body: bytes) -> None:
    at = 0
    while at < len(body):
        if at + 17 > len(body) or body[at] >> 4 > 1 or body[at] & 15 > 3:
            raise JpegStructureError("Huffman table is malformed")
        symbols = sum(body[at + 1: at + 17])
        if symbols > 256 or at + 17 + symbols > len(body):
            raise JpegStructureError("Huffman table is malformed")
        at += 17 + symbols


def check_jpeg_header(data: bytes) -> None:
    """Raise :class:`JpegStructureError` unless every segment up to the first scan is well formed."""
    if len(data) < 4 or data[0] != 0xFF or data[1] != _SOI:
        raise JpegStructureError("no start-of-image marker")
    at, components = 2, None
    while True:
        if at + 1 >= len(data) or data[at] != 0xFF:
            raise JpegStructureError(f"no marker at byte {at}")
        while at < len(data) and data[at] == 0xFF:  # fill bytes may precede a marker
            at += 1
        if at + 2 >= len(data) or data[at] == 0x00:
            raise JpegStructureError("invalid marker")
        marker = data[at]
        at += 1
        if marker in _STANDALONE:
            if marker != 0x01 and not 0xD0 <= marker <= 0xD7:
                raise JpegStructureError("image ends or restarts before its first scan")
            continue
        length = _u16(data, at)
        if length < 2 or at + length > len(data):
            raise JpegStructureError(f"segment length {length} runs past the data")
        body = data[at + 2: at + length]
        at += length
        if marker in _SOF:
            if components is not None:
                raise JpegStructureError("more than one frame header")
            components = _check_sof(marker, body)
        elif marker == _DQT:
            _check_dqt(body)
        elif marker == _DHT:
            _check_dht(body)
        elif marker == _DRI and length != 4:
            raise JpegStructureError("restart interval segment has the wrong length")
        elif marker == _SOS:
            if components is None:
                raise JpegStructureError("scan before the frame header")
            count = body[0] if body else 0
            if not 1 <= count <= 4 or len(body) != 4 + 2 * count:
                raise JpegStructureError("scan header is malformed")
            if any(body[1 + 2 * i] not in components for i in range(count)):
                raise JpegStructureError("scan refers to a component the frame does not have")
            return
