"""Run ``skalexnet demo`` and refresh what the README shows of it.

    python examples/regenerate_demo_docs.py

writes docs/demo_report.md and docs/demo_finetune_vs_scratch.png from one fresh demo run and
prints the demo table, to paste into docs/user_guide/demo.md ("The demo and the study's numbers").
"""

import os
import shutil
import tempfile
import time

from skalexnet._report import STUDY_RESULTS
from skalexnet.experiments import run_demo

DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "docs")
ROWS = {
    "scratch": "training from scratch",
    "finetune": "fine-tuning (fc8, then every layer)",
    "features": "pool5 features + MLP (256)",
}


def main():
    with tempfile.TemporaryDirectory() as workspace:
        out = os.path.join(workspace, "demo")
        start = time.perf_counter()
        results = run_demo(out, verbose=0)
        minutes, seconds = divmod(round(time.perf_counter() - start), 60)
        shutil.copy(os.path.join(out, "report.md"), os.path.join(DOCS, "demo_report.md"))
        shutil.copy(
            os.path.join(out, "finetune_vs_scratch.png"),
            os.path.join(DOCS, "demo_finetune_vs_scratch.png"),
        )
    print(f"\n`skalexnet demo --quiet`: {minutes} min {seconds} s in all\n")
    print("| task | test accuracy, digits 5-9 | s / epoch | study, dogs vs cats |")
    print("|---|---|---|---|")
    for task, result in results.items():
        print(
            f"| {ROWS[task]} | {result.test_accuracy:.3f} | {result.seconds_per_epoch:.1f} | "
            f"{STUDY_RESULTS[task]:.3f} |"
        )


if __name__ == "__main__":
    main()
