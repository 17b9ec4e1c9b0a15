"""Write the bundled demo cine ``echoviewer/resources/samples/sample_a4c.dcm`` with its truth beside it.

The cine is a simulated apical four-chamber view (``distill.synth``): the first seed from
``--seed`` whose case has good, clear image quality, a normal heart rate and EF and at least two beats,
written as a JPEG Baseline Ultrasound Multi-frame DICOM (480×640, 60 frames at 30 fps, calibrated
Sequence of Ultrasound Regions). ``sample_a4c.truth.json`` holds its ED/ES frames, EF and volumes.

    python scripts/make_sample.py [--seed 565] [--out echoviewer/resources/samples/sample_a4c.dcm]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from distill.synth.simulator import SyntheticCine, simulate
from distill.synth.writers import write_dicom

FRAMES, FPS, SIZE = 60, 30.0, (480, 640)


def acceptable(cine: SyntheticCine) -> bool:
    p = cine.params
    brightness = float(cine.frames[:, cine.sector].mean())
    clear = (p.shadow_db < 4 and p.attenuation_db < 6 and p.lateral_gain > 0.4 and abs(p.tilt_deg) < 1.5
             and 30 <= brightness <= 60 and p.blood_db > 30)
    return (clear and p.quality == "good" and 60 <= p.heart_rate_bpm <= 85 and 52 <= cine.ef <= 68
            and len(cine.ed_frames) >= 2 and len(cine.es_frames) >= 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=565,
                        help="first seed tried (default 565, the bundled sample's seed)")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parents[1] / "echoviewer/resources/samples/sample_a4c.dcm")
    args = parser.parse_args()
    seed = args.seed
    # A case's rhythm, EF and quality do not depend on the frame size: screen seeds small.
    while not acceptable(simulate(seed, height=SIZE[0] // 5, width=SIZE[1] // 5, n_frames=FRAMES, fps=FPS)):
        seed += 1
    cine = simulate(seed, height=SIZE[0], width=SIZE[1], n_frames=FRAMES, fps=FPS)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_dicom(args.out, cine, quality=80)
    truth = {"seed": seed, "frames": FRAMES, "fps": FPS, "ed_frames": list(cine.ed_frames),
             "es_frames": list(cine.es_frames), "ef_percent": round(cine.ef, 2),
             "edv_ml": round(cine.edv_ml, 2), "esv_ml": round(cine.esv_ml, 2),
             "heart_rate_bpm": round(cine.params.heart_rate_bpm, 2), "cm_per_px": cine.cm_per_px}
    truth_path = args.out.with_name(f"{args.out.stem}.truth.json")
    truth_path.write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB, seed {seed}) and {truth_path.name}")


if __name__ == "__main__":
    main()
