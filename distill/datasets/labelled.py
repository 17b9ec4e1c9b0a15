"""Human-labelled echo frames in the three layouts the real-data yardstick reads.

* **CAMUS npz** (one file): ``names`` (N,) ``patientNNNN_{2CH,4CH}_{ED,ES}``, ``images`` (N, H, W)
  uint8 and ``labels`` (N, H, W) uint8 (0 background, 1 LV cavity, 2 myocardium, 3 left atrium),
  apex at the top;
* **CAMUS release** (a folder): ``patientNNNN/patientNNNN_{2CH,4CH}_{ED,ES}.nii.gz`` with
  ``..._gt.nii.gz`` beside each (the root may also be the ``database_nifti/`` folder's parent, or
  one patient's folder); read with nibabel, imported only here;
* **EchoNet-Dynamic** (a folder): ``VolumeTracings.csv`` with its videos (``Videos/*.avi`` or the
  AVIs beside it; ``FileList.csv`` optional), read by :class:`distill.datasets.EchoNetFolder`. ED
  and ES are told apart by traced area; the reference mask is :func:`mask_from_tracing` on the
  video's own grid.

Each case is one cine to run through the product (a CAMUS frame becomes a one-frame cine) and the
frames of it that carry a human reference. The reference is the LV cavity: CAMUS label 1, the
EchoNet tracing's polygon. Nothing here runs a model or needs torch.
"""

from __future__ import annotations

import os
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from distill.datasets.echonet import EchoNetFolder, find_root
from distill.datasets.tracings import mask_from_tracing
from echoviewer.io.errors import one_line

LV_CAVITY = 1  # CAMUS label value of the LV cavity (endocardium)


def cavity(label: np.ndarray) -> np.ndarray:
    """The expert's LV cavity in a CAMUS label map: the largest connected region of label 1.

    An expert draws the cavity as one region; the preprocessed CAMUS npz, resized label maps and
    all, carries dozens of stray pixels of label 1 along the borders of the other labels (a median
    of about 60 specks a frame), which would count as reference far from the LV and dominate HD95.
    """
    from echoviewer.analysis.geometry import largest_component  # onnxruntime: not for generate's workers

    return largest_component(label == LV_CAVITY)
VIEWS = {"4CH": "A4C", "2CH": "A2C"}
ECHONET_VIEW = "video"  # EchoNet-Dynamic does not say which apical view; A4C in practice
PHASES = ("ED", "ES")
_CAMUS_NAME = re.compile(r"(patient\d+)_(2CH|4CH)_(ED|ES)")
_NIFTI = (".nii.gz", ".nii")
EXPECTED = ("a CAMUS .npz (names, images, labels arrays), a CAMUS folder of "
            "patientNNNN/patientNNNN_{2CH,4CH}_{ED,ES}.nii.gz with _gt.nii.gz beside each, or an "
            "EchoNet-Dynamic folder (VolumeTracings.csv with Videos/*.avi or the AVIs beside it)")


@dataclass(frozen=True)
class Label:
    """One frame's human reference: a mask, or an EchoNet tracing drawn on the cine's grid."""

    frame: int
    phase: str  # ED or ES
    mask: np.ndarray | None = None  # (H, W) bool LV cavity
    tracing: np.ndarray | None = None  # (K, 4) EchoNet rows

    def reference(self, shape: tuple[int, int]) -> np.ndarray:
        """The boolean LV reference on a native ``shape`` (rows, cols) grid."""
        if self.mask is None:
            assert self.tracing is not None
            return mask_from_tracing(self.tracing, shape)
        if self.mask.shape != tuple(shape):
            raise ValueError(f"reference mask of shape {self.mask.shape} for a frame of shape {tuple(shape)}")
        return self.mask


@dataclass(frozen=True)
class LabelledCase:
    """A cine with human references on some frames: a file on disk (``path``) or one frame
    (``image``, uint8 (H, W)) to be written as a one-frame cine, with its pixel size if known."""

    name: str
    view: str  # A4C, A2C or video (EchoNet)
    labels: tuple[Label, ...]
    path: Path | None = None
    image: np.ndarray | None = None
    cm_per_px: tuple[float, float] | None = None


@dataclass(frozen=True)
class LabelledSet:
    """What a ``--labelled`` path holds: its layout, how many cases, and the cases (read lazily)."""

    layout: str  # camus-npz, camus-nifti or echonet
    root: Path
    count: int
    items: tuple = ()  # NIfTI (image, label) file pairs, or EchoNet (name, video file) pairs
    folder: EchoNetFolder | None = None

    def entries(self) -> Iterator[tuple[str, Callable[[], LabelledCase]]]:
        """Each case's name and the function that reads it (raising ValueError for a damaged
        file), so that one bad case need not stop the others."""
        if self.layout == "camus-npz":
            for case in _npz_cases(self.root):
                yield case.name, partial(_same, case)
        elif self.layout == "camus-nifti":
            for image_path, label_path in self.items:
                yield _nifti_name(image_path), partial(_nifti_case, image_path, label_path)
        else:
            assert self.folder is not None
            for name, video in self.items:
                yield name, partial(_echonet_case, self.folder, name, video)

    def cases(self) -> Iterator[LabelledCase]:
        """Every case, read in turn; ValueError at the first damaged one."""
        for _, read in self.entries():
            yield read()


def _same(case: LabelledCase) -> LabelledCase:
    return case


def _camus_name(name: str) -> tuple[str, str]:
    """(view, phase) of a CAMUS case name; ValueError for another name."""
    match = _CAMUS_NAME.fullmatch(name)
    if match is None:
        raise ValueError(f"{name!r} is not a CAMUS case name; expected patientNNNN_{{2CH,4CH}}_{{ED,ES}}")
    return VIEWS[match.group(2)], match.group(3)


def _npz_keys(path: Path) -> int:
    """The number of cases of a CAMUS npz, after checking its arrays."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            files = set(archive.files)
            arrays = {key: archive[key] for key in ("names", "images", "labels") if key in files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: not a readable .npz ({one_line(exc)}); expected {EXPECTED}") from exc
    lacking = [key for key in ("names", "images", "labels") if key not in arrays]
    if lacking:
        raise ValueError(f"{path}: no {', '.join(lacking)} array; expected {EXPECTED}")
    names, images, labels = arrays["names"], arrays["images"], arrays["labels"]
    if images.ndim != 3 or images.shape != labels.shape or len(names) != len(images):
        raise ValueError(f"{path}: names {names.shape}, images {images.shape} and labels {labels.shape} "
                         "do not match; expected (N,), (N, H, W) and (N, H, W)")
    for name in names:
        _camus_name(str(name))
    return len(names)


def _npz_cases(path: Path) -> Iterator[LabelledCase]:
    with np.load(path, allow_pickle=False) as archive:
        names, images, labels = archive["names"], archive["images"], archive["labels"]
    for name, image, label in zip(names, images, labels):
        view, phase = _camus_name(str(name))
        yield LabelledCase(str(name), view, (Label(0, phase, mask=cavity(label)),),
                           image=np.asarray(image, np.uint8))


def camus_nifti_array(data: np.ndarray) -> np.ndarray:
    """A CAMUS NIfTI image or label array as nibabel reads it → (rows, cols), apex at the top.

    nibabel returns a NIfTI's voxels in the file's index order (i, j[, k]): i runs along x (the
    image columns), j along y (the rows), so a CAMUS frame comes as (W, H) or (W, H, 1). CAMUS's
    own loader (SimpleITK's ``GetArrayFromImage`` in the dataset's evaluation notebook) gives the
    (H, W) array with the probe's apex in the top row and the sector opening downwards: that is
    the transpose. The affine is not applied on purpose: SimpleITK writes its identity direction
    as an LPS → RAS flip of x and y, and reorienting to RAS would turn the image upside down.
    """
    array = np.squeeze(np.asarray(data))
    if array.ndim != 2:
        raise ValueError(f"a CAMUS frame has 2 dimensions; this one has shape {np.shape(data)}")
    return array.T


def _read_nifti(path: Path):  # -> nibabel.Nifti1Image (nibabel is imported lazily)
    """A NIfTI file as nibabel's image (header read, voxels not yet); ValueError if it is not one."""
    try:
        import nibabel  # only the CAMUS release needs it (the distill extra)
    except ImportError as exc:
        raise ValueError(f"{path}: reading NIfTI needs nibabel: pip install \"echoviewer[distill]\"") from exc
    try:
        image = nibabel.load(path)
    except (OSError, EOFError, zlib.error, nibabel.filebasedimages.ImageFileError) as exc:
        # zlib.error: nibabel sniffs the header through gzip, which meets the damage first
        raise ValueError(f"{path}: not a readable NIfTI file ({one_line(exc)})") from exc
    if not isinstance(image, nibabel.Nifti1Image):  # NIfTI-2 images are Nifti1Image subclasses
        raise ValueError(f"{path}: {type(image).__name__}, not a NIfTI image")
    return image


def _nifti_name(path: Path) -> str:
    return path.name.split(".")[0]


def _nifti_case(image_path: Path, label_path: Path) -> LabelledCase:
    name = _nifti_name(image_path)
    view, phase = _camus_name(name)
    image_file, label_file = _read_nifti(image_path), _read_nifti(label_path)
    try:
        image = camus_nifti_array(np.asanyarray(image_file.dataobj))
        label = camus_nifti_array(np.asanyarray(label_file.dataobj))
    except (OSError, EOFError, ValueError, zlib.error) as exc:  # truncated or damaged voxel data
        raise ValueError(f"{image_path}: unreadable voxels ({one_line(exc)})") from exc
    if image.shape != label.shape:
        raise ValueError(f"{image_path.name} is {image.shape} but {label_path.name} is {label.shape}")
    zooms = image_file.header.get_zooms()[:2]  # (x, y) spacing
    unit = image_file.header.get_xyzt_units()[0]
    cm_per_px = None
    if unit == "mm" and len(zooms) == 2 and all(np.isfinite(zooms)) and min(zooms) > 0:
        cm_per_px = (float(zooms[0]) / 10, float(zooms[1]) / 10)
    return LabelledCase(name, view, (Label(0, phase, mask=cavity(label)),),
                        image=_grey(image), cm_per_px=cm_per_px)


def _grey(image: np.ndarray) -> np.ndarray:
    """uint8 as it is, else min-max scaled to 0-255 (as the CAMUS npz was)."""
    if image.dtype == np.uint8:
        return image
    image = image.astype(np.float64)
    low, high = float(image.min()), float(image.max())
    scaled = (image - low) / (high - low) * 255 if high > low else np.zeros_like(image)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _nifti_pairs(root: Path) -> list[tuple[Path, Path]]:
    """(image, label) files of every patient folder under ``root`` (or ``root`` as one patient)."""
    folders = [root] if root.name.startswith("patient") else sorted(
        path for path in root.glob("patient*") if path.is_dir())
    pairs = []
    for folder in folders:
        for path in sorted(folder.iterdir()):
            name = next((path.name[:-len(s)] for s in _NIFTI if path.name.endswith(s)), None)
            if name is None or _CAMUS_NAME.fullmatch(name) is None:
                continue
            labels = [folder / f"{name}_gt{suffix}" for suffix in _NIFTI]
            label = next((candidate for candidate in labels if candidate.is_file()), None)
            if label is not None:
                pairs.append((path, label))
    return pairs


def camus_label_maps(path: str | os.PathLike[str]) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(name, grey image, full label map) of every frame of a CAMUS npz or NIfTI release: all four
    labels (background, cavity, myocardium, atrium), for models that learn the whole picture.
    ValueError for another layout."""
    root = Path(path)
    if root.is_file() and root.suffix == ".npz":
        _npz_keys(root)
        with np.load(root, allow_pickle=False) as archive:
            names, images, labels = archive["names"], archive["images"], archive["labels"]
        for name, image, label in zip(names, images, labels):
            yield str(name), np.asarray(image, np.uint8), np.asarray(label, np.uint8)
        return
    pairs = _nifti_pairs(root) if root.is_dir() else []
    if not pairs:
        raise ValueError(f"{root}: no CAMUS frames with all their labels; expected a CAMUS .npz or a CAMUS folder "
                         "of patientNNNN/patientNNNN_{2CH,4CH}_{ED,ES}.nii.gz with _gt.nii.gz beside each")
    for image_path, label_path in pairs:
        try:
            image = camus_nifti_array(np.asanyarray(_read_nifti(image_path).dataobj))
            label = camus_nifti_array(np.asanyarray(_read_nifti(label_path).dataobj))
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{image_path}: unreadable voxels ({one_line(exc)})") from exc
        yield _nifti_name(image_path), _grey(image), label.astype(np.uint8)


def _echonet_case(folder: EchoNetFolder, name: str, video: Path) -> LabelledCase:
    traced = folder.traced(name)
    assert traced is not None  # open_labelled keeps only traced videos
    return LabelledCase(name, ECHONET_VIEW, (Label(traced.ed_frame, "ED", tracing=traced.ed_rows),
                                             Label(traced.es_frame, "ES", tracing=traced.es_rows)), path=video)


def _has_tracings(root: Path) -> bool:
    found, _ = find_root(root)
    return (found / "VolumeTracings.csv").is_file()


def open_labelled(path: str | os.PathLike[str], split: str = "all") -> LabelledSet:
    """The labelled data at ``path``, its layout told from what is on disk.

    ``split`` (TRAIN, VAL, TEST, all) selects EchoNet videos; a CAMUS file or folder is taken
    whole. FileNotFoundError or ValueError, one line saying what was expected, when the path is
    missing or holds none of the layouts.
    """
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such file or folder; expected {EXPECTED}")
    if root.is_file():
        if root.suffix.lower() != ".npz":
            raise ValueError(f"{root}: not labelled data; expected {EXPECTED}")
        return LabelledSet("camus-npz", root, _npz_keys(root))
    for candidate in (root, root / "database_nifti"):
        pairs = _nifti_pairs(candidate) if candidate.is_dir() else []
        if pairs:
            return LabelledSet("camus-nifti", candidate, len(pairs), tuple(pairs))
    if _has_tracings(root):
        folder = EchoNetFolder(root)
        videos = tuple((record.name, record.path) for record in folder.split(split)
                       if folder.traced(record.name) is not None)
        if not videos:
            raise ValueError(f"{folder.root}: no video of split {split!r} has two usable traced frames "
                             "in VolumeTracings.csv")
        return LabelledSet("echonet", folder.root, len(videos), videos, folder)
    raise ValueError(f"{root}: no labelled data found; expected {EXPECTED}")
