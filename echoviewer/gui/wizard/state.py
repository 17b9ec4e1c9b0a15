"""What the wizard's pages choose, in one place every page reads."""

from __future__ import annotations

from dataclasses import dataclass

from echoviewer.distill_runs import Run
from echoviewer.analysis.models import DEFAULT_MODEL
from echoviewer.run_contract import DATA_PRESETS, GENERATOR_SHARE, STUDENT_PRESETS, TRAINING

QUICK, FAST = DATA_PRESETS["quick"], STUDENT_PRESETS["fast"]
LEARN = "learn"  # WizardState.generator: learned in the run from the labelled frames its teacher learns
GENERATOR_PERCENT = round(100 * GENERATOR_SHARE)


@dataclass
class WizardState:
    teacher: str = "teacher"              # a `--teacher` spec: teacher, truth, FILE.onnx, FILE.pt; "" with:
    labelled: str = ""                    # human-labelled data the run first trains its teacher on
    data_licence: str = ""                # that data's licence, for the teacher's model card
    teacher_minutes: int = 30             # that training's time budget (0: none)
    teacher_info: dict | None = None      # `distill probe teacher` output, or the labelled data's layout
    data_mode: str = "generate"           # or "folder"
    n: int = QUICK.n
    seed: int = 0
    frames: str = QUICK.frames
    folder: str = ""
    generator: str = ""                   # generated data drawn partly by: "" none, "learn" (from `labelled`), a folder
    generator_share: int = GENERATOR_PERCENT  # the percentage of cines the generator draws
    data_info: dict | None = None         # `distill probe data` or `probe generate` output
    model: str = FAST.model
    epochs: int = QUICK.epochs
    patience: int = QUICK.patience
    batch: int = FAST.batch
    clip: int = FAST.clip
    student_info: dict | None = None      # `distill probe student` output
    name: str = ""
    current: str = DEFAULT_MODEL          # the viewer's active student when the wizard opened
    run: Run | None = None                # set when a run starts (or is resumed)
    installed: str | None = None          # the model file saved by the last page

    def videos(self) -> int:
        """How many videos the run will train and test on."""
        if self.data_mode == "generate":
            return self.n
        return int((self.data_info or {}).get("videos", 0))

    def _generator_arguments(self) -> list[str]:
        if not self.generator:
            return []
        drawn_by = ["--train-generator"] if self.generator == LEARN else ["--generator", self.generator]
        return [*drawn_by, "--generator-share", str(self.generator_share / 100)]

    def pipeline_arguments(self) -> list[str]:
        """`distill pipeline` options for a new run of these choices (the run folder added by the caller)."""
        data = (["--generate", str(self.n), "--frames", self.frames, *self._generator_arguments()]
                if self.data_mode == "generate" else ["--data", self.folder])
        teacher = (["--labelled", self.labelled, "--teacher-minutes", str(self.teacher_minutes),
                    *(["--data-licence", self.data_licence] if self.data_licence else [])] if self.labelled
                   else ["--teacher", self.teacher])
        return ["--name", self.name, *teacher, *data, "--seed", str(self.seed),
                "--model", self.model, "--epochs", str(self.epochs), "--patience", str(self.patience),
                "--batch", str(self.batch), "--clip", str(self.clip), "--current", self.current,
                *[item for key, value in TRAINING.items() for item in (f"--{key}", str(value))]]
