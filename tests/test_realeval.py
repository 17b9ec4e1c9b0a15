"""``python -m distill realeval``: the real-data yardstick, on tiny files of every layout built here
from simulated cines whose truth is known (nothing here reads ``../shared``)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from distill.cli import main
from distill.datasets import EchoNetFolder, mask_from_tracing, save_npz
from distill.datasets.labelled import camus_nifti_array, cavity, open_labelled
from distill.label_free import (area_jitter, autocorrelation, basal_motion, closure_overshoot, label_free_checks, period,
                                spike_index)
from distill.scores import area_error, fac_agreement, boundary, dice, frame_scores, hd95, summarize
from distill.synth import SyntheticCine, simulate
from distill.synth.writers import _traced_frames, write_case, write_tables
from echoviewer.analysis import BUNDLED, DEFAULT_MODEL, analyze, load_model
from echoviewer.analysis.quality import PERIODIC_CORRELATION, periodicity
from echoviewer.io import load_cine
from tests.helpers import ROOT, one_error_line

CAMUS_NAMES = ("patient0001_4CH_ED", "patient0001_4CH_ES", "patient0002_2CH_ED")
SPACING_MM = (0.31, 0.27)  # (x, y): anisotropic, so a swapped axis shows


def disk(shape: tuple[int, int], centre: tuple[float, float], radius: float) -> np.ndarray:
    ys, xs = np.mgrid[:shape[0], :shape[1]]
    return (xs - centre[0]) ** 2 + (ys - centre[1]) ** 2 <= radius ** 2


@pytest.fixture(scope="module")
def beating() -> SyntheticCine:
    """An EchoNet-sized cine: 64 frames at 30 fps, 76 bpm (about 2.7 beats)."""
    return simulate(1, n_frames=64, fps=30.0)


@pytest.fixture(scope="module")
def scanner() -> SyntheticCine:
    """A non-square scanner-screen cine (128 rows × 160 columns), so a transposed read shows."""
    return simulate(0, height=128, width=160, n_frames=12)


def camus_frames(cine: SyntheticCine) -> tuple[np.ndarray, np.ndarray]:
    """Images and CAMUS-style labels (1 LV cavity, 2 a myocardium ring, 3 an atrium blob)."""
    picks = [0, 6, 11]
    images = cine.frames[picks]
    labels = cine.masks[picks].astype(np.uint8)
    for label, mask in zip(labels, cine.masks[picks]):
        ring = disk(mask.shape, (80, 60), 30) & ~mask
        label[ring] = 2
        label[disk(mask.shape, (80, 115), 8) & ~mask] = 3
    return images, labels


@pytest.fixture(scope="module")
def camus_npz(tmp_path_factory, scanner) -> Path:
    images, labels = camus_frames(scanner)
    path = tmp_path_factory.mktemp("camus") / "camus_val.npz"
    np.savez(path, names=np.array(CAMUS_NAMES), images=images, labels=labels)
    return path


def write_nifti(path: Path, rows_cols: np.ndarray) -> None:
    """A 2D frame as the CAMUS release holds it (SimpleITK's writer): voxels in (x, y) order, so
    the array is (W, H); identity direction stored as ITK's LPS → NIfTI RAS flip; spacing in mm."""
    nibabel = pytest.importorskip("nibabel", reason="NIfTI needs the distill extra")
    image = nibabel.Nifti1Image(np.ascontiguousarray(rows_cols.T),
                                np.diag([-SPACING_MM[0], -SPACING_MM[1], 1.0, 1.0]))
    image.header.set_xyzt_units("mm", "sec")
    nibabel.save(image, path)


@pytest.fixture(scope="module")
def camus_nifti(tmp_path_factory, scanner) -> Path:
    """``CAMUS_public/database_nifti/patientNNNN/...``, with a half sequence that must be ignored."""
    images, labels = camus_frames(scanner)
    root = tmp_path_factory.mktemp("camus_release") / "CAMUS_public"
    for name, image, label in zip(CAMUS_NAMES, images, labels):
        folder = root / "database_nifti" / name.split("_")[0]
        folder.mkdir(parents=True, exist_ok=True)
        write_nifti(folder / f"{name}.nii.gz", image)
        write_nifti(folder / f"{name}_gt.nii.gz", label)
    write_nifti(root / "database_nifti" / "patient0001" / "patient0001_4CH_half_sequence.nii.gz", images[0])
    (root / "database_nifti" / "patient0001" / "Info_4CH.cfg").write_text("ED: 1\nES: 12\n")
    return root


@pytest.fixture(scope="module")
def echonet(tmp_path_factory, beating) -> Path:
    """An EchoNet-Dynamic folder (FileList, VolumeTracings, Videos/) with no simulator truth left."""
    root = tmp_path_factory.mktemp("echonet") / "EchoNet-Dynamic"
    for folder in ("Masks", "Videos"):
        (root / folder).mkdir(parents=True)
    write_case(root, "0X1A2B", beating, "echonet")
    write_tables(root, ["0X1A2B"], "echonet")
    shutil.rmtree(root / "Masks")
    return root


# --- metrics ----------------------------------------------------------------------------------

def test_identical_masks_score_perfectly() -> None:
    mask = disk((80, 100), (50, 40), 20)
    assert frame_scores(mask, mask) == {"dice": 1.0, "hd95_px": 0.0, "area_error": 0.0,
                                        "area_px": int(mask.sum()), "reference_area_px": int(mask.sum()),
                                        "empty_prediction": False}


def test_hd95_of_a_grown_and_a_shifted_disk() -> None:
    shape = (120, 120)
    reference = disk(shape, (60, 60), 20)
    assert 4.0 <= hd95(disk(shape, (60, 60), 25), reference) <= 6.0  # every border 5 px away
    shifted = disk(shape, (66, 60), 20)  # the farthest border points are 6 px apart, most nearer
    assert 4.5 <= hd95(shifted, reference) <= 6.0
    assert hd95(shifted, reference) == hd95(reference, shifted)  # symmetric
    r, d = 20.0, 6.0
    lens = 2 * r * r * np.arccos(d / (2 * r)) - d / 2 * np.sqrt(4 * r * r - d * d)
    assert dice(shifted, reference) == pytest.approx(lens / (np.pi * r * r), abs=0.01)


def test_area_error_sign_and_empty_masks() -> None:
    shape = (60, 80)
    reference = disk(shape, (40, 30), 15)
    assert area_error(disk(shape, (40, 30), 18), reference) > 0 > area_error(disk(shape, (40, 30), 12), reference)
    empty = np.zeros(shape, bool)
    scores = frame_scores(empty, reference)
    assert scores["dice"] == 0.0 and scores["hd95_px"] == pytest.approx(100.0)  # the diagonal of 60 × 80
    assert scores["area_error"] == -1.0 and scores["empty_prediction"] is True
    assert hd95(empty, empty) == 0.0 and area_error(reference, empty) is None


def test_a_mask_filling_the_image_has_the_image_border_as_boundary() -> None:
    full = np.ones((5, 6), bool)
    assert boundary(full).sum() == 2 * 5 + 2 * 6 - 4 and hd95(full, full) == 0.0


def test_summaries_per_view_and_phase() -> None:
    rows = [{"view": view, "phase": phase, "dice": d, "hd95_px": 10 * d, "area_error": d - 0.5,
             "empty_prediction": d == 0}
            for view, phase, d in [("A2C", "ED", 0.8), ("A4C", "ES", 0.7), ("A4C", "ED", 0.9),
                                   ("A4C", "ED", 0.0), ("A4C", "ED", 0.6)]]
    summary = summarize(rows)
    assert [(s["view"], s["phase"], s["n"]) for s in summary] == [("A4C", "ED", 3), ("A4C", "ES", 1),
                                                                  ("A2C", "ED", 1)]
    a4c_ed = summary[0]
    assert a4c_ed["dice"] == {"mean": pytest.approx(0.5), "median": 0.6, "p10": pytest.approx(0.12)}
    assert set(a4c_ed["hd95_px"]) == set(a4c_ed["area_error"]) == {"mean", "median", "p10", "p90"}
    assert a4c_ed["empty_predictions"] == 1


# --- label-free checks ------------------------------------------------------------------------

def test_period_of_a_cosine_and_of_curves_without_a_period() -> None:
    t = np.arange(100)
    found = period(1000 + 200 * np.cos(2 * np.pi * t / 25), fps=50.0)
    assert found["lag_frames"] == 25 and found["bpm"] == pytest.approx(120.0) and found["autocorrelation"] > 0.6
    for curve in (np.full(100, 500.0), np.linspace(0, 1, 100), np.array([1.0, 2.0])):
        assert period(curve, fps=50.0) == {"autocorrelation": None, "lag_frames": None, "bpm": None}
    assert autocorrelation(np.cos(t))[0] == pytest.approx(1.0)


def test_period_finds_the_simulated_heart_rate(beating) -> None:
    truth_area = beating.masks.reshape(len(beating.masks), -1).sum(axis=1)
    found = period(truth_area, beating.fps)
    assert found["bpm"] == pytest.approx(beating.params.heart_rate_bpm, rel=0.1)


def test_spike_index_rises_with_an_injected_spike(beating) -> None:
    t = np.arange(1200)
    smooth = 1000 + 200 * np.cos(2 * np.pi * t / 300)
    assert spike_index(smooth) == pytest.approx(0.067, abs=0.005)  # a sinusoid: (1 − cos 30°) / 2
    area = beating.masks.reshape(len(beating.masks), -1).sum(axis=1).astype(float)
    spiked = area.copy()
    spiked[beating.ed_frames[0] - 2] += 0.5 * np.ptp(area)  # a leak into the atrium just before ED
    assert spike_index(spiked) > spike_index(area) + 0.2
    assert spike_index(np.full(10, 3.0)) is None and spike_index(np.array([])) is None


def test_closure_overshoot_tells_a_leak_before_closure_from_an_atrial_kick(beating) -> None:
    area = beating.masks.reshape(len(beating.masks), -1).sum(axis=1).astype(float)
    closures = [ed for ed in beating.ed_frames if ed >= 6]
    # The simulator's truth fills until the valve shuts (its atrial kick rises into ED): no overshoot.
    assert all(value == pytest.approx(0.0, abs=0.01) for value in closure_overshoot(area, closures))
    leaked = area.copy()
    leaked[closures[0] - 2] = 1.2 * area[closures[0]]  # two frames into the atrium, then back
    assert closure_overshoot(leaked, closures)[0] == pytest.approx(0.2)
    assert closure_overshoot(area, [0, len(area)]) == [None, None]
    assert closure_overshoot(np.zeros(10), [5]) == [None]


def test_area_jitter_is_the_frame_to_frame_noise_of_the_curve() -> None:
    line = np.linspace(1000.0, 2000.0, 50)
    assert area_jitter(line) == {"median": pytest.approx(0.0), "p90": pytest.approx(0.0)}
    noisy = line * (1 + 0.04 * (-1.0) ** np.arange(50))  # ±4 % alternating: 8 % off its neighbours' mean
    assert area_jitter(noisy)["median"] == pytest.approx(0.08, rel=0.1)
    assert area_jitter(np.array([1.0, 2.0])) == {"median": None, "p90": None}


def test_basal_motion_follows_a_moving_mask() -> None:
    shape = (120, 100)
    ys, xs = np.mgrid[:shape[0], :shape[1]]

    def bullet(shift: int) -> np.ndarray:  # apex at the top, flat base: corners at the base's ends
        return (((xs - 50) / 20) ** 2 + ((ys - 70 - shift) / 50) ** 2 <= 1) & (ys <= 80 + shift)

    still = basal_motion(lambda i: bullet(0), 4)
    assert still.shape == (3,) and np.all(still == 0)
    moving = basal_motion(lambda i: bullet(3 * i), 5)
    assert np.allclose(moving, 3.0, atol=0.5)
    gone = basal_motion(lambda i: bullet(0) if i != 2 else np.zeros(shape, bool), 4)
    assert np.isnan(gone[1]) and np.isnan(gone[2]) and gone[0] == 0


def test_label_free_checks_on_a_simulated_cine_through_the_product(tmp_path, beating) -> None:
    path = save_npz(tmp_path / "beating.npz", {"frames": beating.frames, "fps": np.float64(beating.fps)})
    analysis = analyze(load_cine(path), load_model("student"))
    checks = label_free_checks(analysis)
    assert checks["frames"] == 64 and checks["fps"] == pytest.approx(30.0) and checks["beats"] >= 1
    assert checks["ed_found"] >= 2 and checks["es_found"] >= 2
    # The picks themselves, so a yardstick can set them against valve events read on the frames.
    assert checks["ed_frames"] == list(analysis.ed_frames) and checks["es_frames"] == list(analysis.es_frames)
    assert checks["area_px"] == [round(value) for value in analysis.area_px]
    assert 0 <= checks["area_jitter"]["median"] <= checks["area_jitter"]["p90"] < 0.2
    for picks, truth in ((checks["ed_frames"], beating.ed_frames), (checks["es_frames"], beating.es_frames)):
        # (an event in a clip's last or first few frames is found only once the curve turns there)
        assert all(min(abs(pick - event) for pick in picks) <= 2 for event in truth if 4 <= event < 64 - 4)
    assert checks["periodicity"]["bpm"] == pytest.approx(beating.params.heart_rate_bpm, rel=0.15)
    # The same periodicity the viewer's aperiodic flag judges, not a second definition.
    assert checks["periodicity"]["r"] == periodicity(analysis.area_px, analysis.cine.timing.fps) > PERIODIC_CORRELATION
    assert "aperiodic" not in {flag.code for flag in analysis.flags}
    assert 0 <= checks["spike_index"] <= 1 and checks["basal_motion"]["median_px"] < 5


# --- layouts ----------------------------------------------------------------------------------

def test_camus_npz_cases(camus_npz, scanner) -> None:
    labelled = open_labelled(camus_npz)
    assert (labelled.layout, labelled.count) == ("camus-npz", 3)
    cases = list(labelled.cases())
    assert [(c.name, c.view, c.labels[0].phase) for c in cases] == [
        ("patient0001_4CH_ED", "A4C", "ED"), ("patient0001_4CH_ES", "A4C", "ES"), ("patient0002_2CH_ED", "A2C", "ED")]
    np.testing.assert_array_equal(cases[1].image, scanner.frames[6])
    np.testing.assert_array_equal(cases[1].labels[0].reference((128, 160)), scanner.masks[6])  # label 1 only


@pytest.mark.parametrize("given", ["root", "database_nifti", "one patient"])
def test_camus_release_cases_come_upright(camus_nifti, scanner, given) -> None:
    root = {"root": camus_nifti, "database_nifti": camus_nifti / "database_nifti",
            "one patient": camus_nifti / "database_nifti" / "patient0001"}[given]
    labelled = open_labelled(root)
    cases = list(labelled.cases())
    names = [c.name for c in cases]
    assert labelled.layout == "camus-nifti" and names == list(CAMUS_NAMES[:len(names)])
    assert len(names) == (2 if given == "one patient" else 3)
    first = cases[0]
    assert first.image.shape == (128, 160) and first.image.dtype == np.uint8
    np.testing.assert_array_equal(first.image, scanner.frames[0])
    np.testing.assert_array_equal(first.labels[0].reference((128, 160)), scanner.masks[0])
    assert first.cm_per_px == pytest.approx((SPACING_MM[0] / 10, SPACING_MM[1] / 10))
    assert (first.view, first.labels[0].phase, cases[1].labels[0].phase) == ("A4C", "ED", "ES")


def test_camus_nifti_orientation_is_a_transpose() -> None:
    on_disk = np.arange(12).reshape(4, 3)  # (W, H) as nibabel reads it
    np.testing.assert_array_equal(camus_nifti_array(on_disk[..., None]), on_disk.T)
    with pytest.raises(ValueError, match="2 dimensions"):
        camus_nifti_array(np.zeros((3, 4, 2)))


def test_echonet_cases_use_the_traced_frames(echonet, beating) -> None:
    labelled = open_labelled(echonet)
    assert (labelled.layout, labelled.count) == ("echonet", 1)
    (case,) = labelled.cases()
    ed, es = _traced_frames(beating)
    assert case.view == "video" and case.path == echonet / "Videos" / "0X1A2B.avi"
    assert [(label.frame, label.phase) for label in case.labels] == [(ed, "ED"), (es, "ES")]
    reference = case.labels[0].reference((112, 112))
    assert dice(reference, beating.masks[ed]) > 0.9
    np.testing.assert_array_equal(reference, mask_from_tracing(case.labels[0].tracing, (112, 112)))


def test_echonet_tracings_beside_plain_videos(tmp_path, echonet) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    shutil.copy(echonet / "Videos" / "0X1A2B.avi", plain)
    shutil.copy(echonet / "VolumeTracings.csv", plain)
    assert EchoNetFolder(plain).layout == "plain"
    (case,) = open_labelled(plain).cases()
    assert case.path == plain / "0X1A2B.avi" and len(case.labels) == 2


# --- the command ------------------------------------------------------------------------------

def realeval(capsys, *argv: str) -> tuple[dict, str]:
    out = Path(argv[argv.index("--json") + 1])
    capsys.readouterr()
    assert main(["realeval", *argv, "--progress", "none"]) == 0
    return json.loads(out.read_text()), capsys.readouterr().out


ROW_KEYS = {"name", "view", "phase", "frame", "dice", "hd95_px", "area_error", "area_px", "reference_area_px",
            "empty_prediction"}


def test_realeval_on_a_camus_npz_writes_rows_summaries_and_a_table(tmp_path, camus_npz, capsys) -> None:
    report, table = realeval(capsys, "--labelled", str(camus_npz), "--json", str(tmp_path / "r.json"))
    assert report["model"]["name"] and report["model"]["file"] == BUNDLED[DEFAULT_MODEL].name and report["definitions"]
    labelled = report["labelled"]
    assert (labelled["layout"], labelled["cases"], labelled["frames_scored"], labelled["failed"]) == (
        "camus-npz", 3, 3, [])
    assert all(set(row) == ROW_KEYS for row in labelled["rows"])
    assert [(s["view"], s["phase"], s["n"]) for s in labelled["summary"]] == [("A4C", "ED", 1), ("A4C", "ES", 1),
                                                                             ("A2C", "ED", 1)]
    assert all(0.5 < row["dice"] <= 1 and row["hd95_px"] < 20 for row in labelled["rows"])  # the LV was found
    assert "Dice mean" in table and table.count("\nA4C ") == 3 and "camus-npz, 3 cases" in table
    (fac,) = labelled["fac"]  # the A4C case has both phases, the A2C case only ED
    ed, es = labelled["rows"][:2]
    assert fac["view"] == "A4C" and fac["n"] == 1 and fac["bias"] == pytest.approx(
        100 * ((ed["area_px"] - es["area_px"]) / ed["area_px"]
               - (ed["reference_area_px"] - es["reference_area_px"]) / ed["reference_area_px"]))
    assert "fractional area change" in table and "bias (points)" in table


def test_fac_agreement_is_a_bland_altman_of_the_area_change_per_view() -> None:
    def rows(view: str, case: str, ed: tuple[int, int], es: tuple[int, int]) -> list[dict]:
        return [{"name": f"{case}_{phase}", "view": view, "phase": phase, "area_px": area, "reference_area_px": ref}
                for phase, (area, ref) in (("ED", ed), ("ES", es))]

    table = (rows("A4C", "p1", (100, 100), (70, 60)) + rows("A4C", "p2", (200, 200), (150, 120))
             + rows("A2C", "p1", (100, 100), (50, 50)))
    a4c, a2c = fac_agreement(table)
    assert (a4c["view"], a4c["n"], a4c["reference_mean"], a4c["predicted_mean"]) == ("A4C", 2, 40.0, 27.5)
    assert a4c["bias"] == pytest.approx(-12.5)  # both cases: 10 and 15 points too little change
    assert a4c["limits_of_agreement"] == pytest.approx([-12.5 - 1.96 * np.std([-10, -15], ddof=1),
                                                        -12.5 + 1.96 * np.std([-10, -15], ddof=1)])
    assert a2c["bias"] == 0 and a2c["limits_of_agreement"] == [0, 0]


def test_realeval_on_the_camus_release_and_echonet_with_cines(tmp_path, camus_nifti, echonet, beating,
                                                              capsys) -> None:
    report, _ = realeval(capsys, "--labelled", str(camus_nifti), "--json", str(tmp_path / "n.json"),
                         "--max-cases", "2")
    assert report["labelled"]["layout"] == "camus-nifti" and report["labelled"]["frames_scored"] == 2
    (tmp_path / "cines").mkdir()
    cine = save_npz(tmp_path / "cines" / "beating.npz", {"frames": beating.frames, "fps": np.float64(30)})
    report, table = realeval(capsys, "--labelled", str(echonet), "--cines", str(cine.parent),
                             "--json", str(tmp_path / "e.json"))
    rows = report["labelled"]["rows"]
    assert [(row["view"], row["phase"]) for row in rows] == [("video", "ED"), ("video", "ES")]
    assert all(row["dice"] > 0.7 for row in rows)
    (checked,) = report["cines"]["checked"]
    assert checked["file"] == str(cine) and {"periodicity", "spike_index", "basal_motion", "beats"} <= set(checked)
    assert "label-free checks" in table and "beating.npz" in table


def test_a_damaged_nifti_file_fails_its_case_only(tmp_path, camus_nifti, capsys) -> None:
    copy = tmp_path / "camus"
    shutil.copytree(camus_nifti, copy)
    label = copy / "database_nifti" / "patient0001" / "patient0001_4CH_ES_gt.nii.gz"
    label.write_bytes(label.read_bytes()[:200])
    report, table = realeval(capsys, "--labelled", str(copy), "--json", str(tmp_path / "r.json"))
    (failed,) = report["labelled"]["failed"]
    assert failed["name"] == "patient0001_4CH_ES" and "patient0001_4CH_ES" in failed["error"]
    assert report["labelled"]["frames_scored"] == 2 and "failed: patient0001_4CH_ES" in table


def test_a_nifti_file_damaged_inside_its_gzip_stream_fails_its_case_only(tmp_path, camus_nifti, capsys) -> None:
    """bench/mutate.py: damage in the first deflate block reached nibabel's header sniff as a bare
    zlib.error, which stopped the whole run with a traceback."""
    copy = tmp_path / "camus"
    shutil.copytree(camus_nifti, copy)
    image = copy / "database_nifti" / "patient0001" / "patient0001_4CH_ED.nii.gz"
    data = bytearray(image.read_bytes())
    data[12:40] = b"\xff" * 28  # just after the gzip header: the deflate stream itself
    image.write_bytes(bytes(data))
    report, _ = realeval(capsys, "--labelled", str(copy), "--json", str(tmp_path / "r.json"))
    (failed,) = report["labelled"]["failed"]
    assert failed["name"] == "patient0001_4CH_ED" and "not a readable NIfTI file" in failed["error"]


@pytest.mark.parametrize("argv, says", [
    (["--labelled", "{tmp}/nowhere"], "no such file or folder; expected a CAMUS .npz"),
    (["--labelled", "{tmp}"], "no labelled data found; expected a CAMUS .npz"),
    (["--labelled", "{tmp}/notes.txt"], "not labelled data; expected"),
    (["--labelled", "{tmp}/bad.npz"], "no labels array"),
    (["--cines", "{tmp}/nowhere.dcm"], "no such file or folder"),
    ([], "nothing to score"),
])
def test_bad_paths_and_layouts_are_one_line_errors(tmp_path, capsys, argv, says) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    np.savez(tmp_path / "bad.npz", names=np.array(["patient0001_4CH_ED"]), images=np.zeros((1, 8, 8), np.uint8))
    capsys.readouterr()
    assert main(["realeval", *(a.format(tmp=tmp_path) for a in argv)]) == 2
    assert says in one_error_line(capsys.readouterr().err)


def test_realeval_needs_neither_torch_nor_nibabel_to_start() -> None:
    code = ("import sys\nfrom distill.cli import build_parser\nbuild_parser('realeval')\n"
            "import distill.realeval, distill.datasets.labelled\n"
            "print(sorted(m for m in ('torch', 'nibabel', 'PySide6') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.stdout.strip() == "[]", result.stderr


@pytest.mark.torch
def test_evaluate_scores_against_human_tracings(tmp_path, echonet) -> None:
    from distill.evaluate import evaluate, markdown
    from distill.segmenters.base import Segmenter

    folder = EchoNetFolder(echonet)
    traced = folder.traced("0X1A2B")

    class Tracer(Segmenter):
        """The human tracing itself: ED's on every frame but ES."""

        def probabilities(self, frames: np.ndarray) -> np.ndarray:
            ed = mask_from_tracing(traced.ed_rows, frames.shape[1:])
            out = np.repeat(ed[None], len(frames), axis=0).astype(np.float32)
            out[traced.es_frame] = mask_from_tracing(traced.es_rows, frames.shape[1:])
            return out

    report = evaluate(Tracer(), Tracer(), folder, folder.split("all"))
    summary = report["summary"]
    assert summary["dice_vs_labels"] == summary["teacher_dice_vs_labels"] == 1.0
    assert summary["hd95_vs_labels"] == summary["teacher_hd95_vs_labels"] == 0.0
    assert "dice_vs_truth" not in summary and "| Dice vs human labels | 1.000 |" in markdown(report)


def test_the_camus_reference_is_the_experts_one_cavity_without_stray_label_pixels(tmp_path) -> None:
    """The preprocessed CAMUS npz carries specks of label 1 along other labels' borders; the
    reference is the cavity the expert drew, so an HD95 is not measured to a speck."""
    label = np.zeros((64, 64), np.uint8)
    label[20:40, 25:40] = 1           # the cavity
    label[5:8, 50:60] = 2             # myocardium, with a speck of 1 on its border
    label[8, 55] = label[60, 3] = 1
    path = tmp_path / "specks.npz"
    np.savez(path, names=np.array(["patient0001_4CH_ED"]), images=np.full((1, 64, 64), 40, np.uint8),
             labels=label[None])
    (case,) = open_labelled(path).cases()
    reference = case.labels[0].reference((64, 64))
    assert reference.sum() == 20 * 15 and reference[20:40, 25:40].all()
    assert not reference[8, 55] and not reference[60, 3]
    assert cavity(label).sum() == 20 * 15
