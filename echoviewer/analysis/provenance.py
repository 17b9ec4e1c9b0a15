"""Who made each result: the app, the model's weights, the model or the user for each pick, an
anonymised key of the study, and the reader.

Study and instance keys are salted SHA-256 hashes of the StudyInstanceUID and the SOP Instance UID
(or, for a file without one, of the file's bytes): stable on one machine, so a researcher can join
exports of one study, and never the UID itself, which identifies the patient's examination. The
salt stays in the user's data folder (:class:`echoviewer.user_data.Preferences`).

Which picks the user made, and the model's own pick beside each, are in the analysis itself
(:meth:`CineAnalysis.pick_origins`).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, UTC

from echoviewer import __version__
from echoviewer.analysis.cine_analysis import CineAnalysis
from echoviewer.analysis.onnx_model import file_sha256

KEY_HEX = 20  # 80 bits: no collision in any cohort, short enough for a spreadsheet


def pseudonym(value: str, salt: str) -> str | None:
    """The salted key of ``value`` (None for an empty one)."""
    if not value:
        return None
    return hashlib.sha256(f"{salt}:{value}".encode()).hexdigest()[:KEY_HEX]


def _instance(analysis: CineAnalysis) -> str:
    uid = analysis.cine.identifiers.sop_instance_uid
    if uid:
        return uid
    try:
        return "sha256:" + file_sha256(analysis.cine.path)
    except OSError:  # the file went away after loading: no key rather than a wrong one
        return ""


def provenance(analysis: CineAnalysis, salt: str, reader: str = "") -> dict:
    """JSON-ready: app version, model name and sha256, study and instance keys, reader, time."""
    model = analysis.segmentation.model
    return {"app": f"echoviewer {__version__}", "model": model.name, "model_sha256": model.sha256,
            "study_key": pseudonym(analysis.cine.identifiers.study_instance_uid, salt),
            "instance_key": pseudonym(_instance(analysis), salt), "reader": reader or None,
            "exported_utc": datetime.now(UTC).isoformat(timespec="seconds")}
