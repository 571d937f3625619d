"""The ``skalexnet`` command: the study's three tasks on an image folder, or the digits demo."""

import argparse
import os
import sys

from .experiments import TASKS, Settings, run_demo, run_experiments


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skalexnet",
        description="AlexNet's three transfer-learning tasks (2017 study) as one command.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run",
        help="run the tasks on DATA_DIR/Train and DATA_DIR/Test",
        description="Reads DATA_DIR/Train/<class>/* and DATA_DIR/Test/<class>/* (folder names in "
        "any case, images .jpg .jpeg .png .bmp .gif .webp .tif .tiff) and runs each task with the "
        "study's settings unless told otherwise.",
    )
    run.add_argument("data_dir", metavar="DATA_DIR")
    run.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    run.add_argument(
        "--weights",
        default="imagenet",
        help="pretrained weights for finetune and features: a file or 'imagenet'",
    )
    run.add_argument("--epochs", type=int, default=80, help="epochs per task (default 80)")
    run.add_argument("--image-size", type=int, default=227)
    run.add_argument("--batch-size", type=int, default=16)
    run.add_argument("--out", default="skalexnet-results", help="output folder")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--quiet", action="store_true", help="print only the summary lines")

    demo = commands.add_parser(
        "demo",
        help="the three tasks on scikit-learn's digits (no download, a few minutes on a CPU)",
    )
    demo.add_argument("--epochs", type=int, default=16)
    demo.add_argument("--out", default="skalexnet-demo")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--quiet", action="store_true", help="print only the summary lines")
    return parser


def main(argv=None) -> int:
    """Entry point of the ``skalexnet`` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    verbose = 0 if args.quiet else 1
    try:
        if args.command == "demo":
            run_demo(args.out, epochs=args.epochs, seed=args.seed, verbose=verbose)
        else:
            settings = Settings(
                epochs=args.epochs,
                image_size=args.image_size,
                batch_size=args.batch_size,
                seed=args.seed,
                weights=args.weights,
                verbose=verbose,
            )
            run_experiments(args.data_dir, args.out, args.tasks, settings)
    except (ValueError, OSError, ImportError) as error:
        print(f"skalexnet: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("skalexnet: interrupted; no output written.", file=sys.stderr)
        return 130
    print(f"report: {os.path.join(os.path.abspath(args.out), 'report.md')}")
    return 0
