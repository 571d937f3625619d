"""The ``skalexnet`` command: the study's three tasks on an image folder, or the digits demo."""

import argparse
import dis
import math
import os
import sys

from ._network import ARCHITECTURES, min_image_size
from ._precision import PRECISIONS
from .experiments import DEMO_EPOCHS, TASKS, Settings, run_demo, run_experiments
from .finetuner import parse_schedule

# numpy's seeds, and so random_state's, are 32-bit.
MAX_SEED = 2**32 - 1


def _integer(minimum: int, maximum: int | None = None):
    """An argparse type: an int in [minimum, maximum]; argparse names the option on failure."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer; got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            bound = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
            raise argparse.ArgumentTypeError(f"must be {bound}; got {value}")
        return value

    return parse


def _learning_rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number; got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0; got {text}")
    return value


def _schedule(text: str):
    """'study', or rounds written ``layer:epochs:learning_rate`` and separated by commas."""
    if text == "study":
        return "study"
    rounds = []
    for index, item in enumerate(text.split(",")):
        parts = item.strip().split(":")
        if len(parts) != 3:
            raise argparse.ArgumentTypeError(
                f"round {index} is {item!r}; write each round as layer:epochs:learning_rate, "
                f"e.g. 'fc8:2:0.01,conv1:4:0.01', or give 'study'"
            )
        layer, epochs, learning_rate = parts
        try:
            rounds.append((layer, int(epochs), float(learning_rate)))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"round {index} is {item!r}: epochs must be an integer and the learning rate a "
                f"number"
            ) from None
    try:
        parse_schedule(rounds)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error).rstrip(".")) from None
    return rounds


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
    run.add_argument(
        "--epochs",
        type=_integer(1),
        default=80,
        help="epochs of training from scratch and of the features' MLP; with --schedule study, "
        "also of fine-tuning, spread over its 8 rounds (default 80)",
    )
    run.add_argument("--image-size", type=_integer(1), default=227, help="default 227")
    run.add_argument("--batch-size", type=_integer(1), default=16, help="default 16")
    run.add_argument(
        "--learning-rate",
        type=_learning_rate,
        default=0.01,
        help="SGD learning rate of training from scratch (default 0.01, the study's)",
    )
    run.add_argument(
        "--schedule",
        type=_schedule,
        default="study",
        help="fine-tuning's rounds: 'study' (fc8 at 0.01, then fc7 ... conv1 at 0.001, "
        "--epochs spread over them) or layer:epochs:learning_rate rounds separated by commas, "
        "e.g. fc8:2:0.01,conv1:4:0.01 (each round trains its layer and those above it)",
    )
    run.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="bfloat16 compute where it is fast (a GPU, a CPU with AMX) with 'auto'",
    )
    run.add_argument(
        "--checkpoint-dir",
        help="checkpoint every epoch here; the same command run again resumes where a killed "
        "run stopped",
    )
    run.add_argument("--out", default="skalexnet-results", help="output folder")
    run.add_argument("--seed", type=_integer(0, MAX_SEED), default=0)
    run.add_argument("--quiet", action="store_true", help="print only the summary lines")

    demo = commands.add_parser(
        "demo",
        help="the three tasks on scikit-learn's digits (no download, a few minutes on a CPU)",
    )
    demo.add_argument(
        "--epochs",
        type=_integer(1),
        default=DEMO_EPOCHS,
        help=f"epochs of each task (default {DEMO_EPOCHS}); fine-tuning gives a third to fc8 "
        "alone and the rest to every layer",
    )
    demo.add_argument("--out", default="skalexnet-demo")
    demo.add_argument("--seed", type=_integer(0, MAX_SEED), default=0)
    demo.add_argument("--quiet", action="store_true", help="print only the summary lines")
    return parser


def _check_run_arguments(parser, args) -> None:
    """What argparse's per-option types cannot see: sizes and files, before any training."""
    needs_weights = {"finetune", "features"} & set(args.tasks)
    # Training from scratch builds the 'original' AlexNet; pretrained weights may be another.
    arch = "original" if "scratch" in args.tasks else None
    smallest = min(min_image_size(a) for a in ([arch] if arch else ARCHITECTURES))
    if args.image_size < smallest:
        parser.error(
            f"argument --image-size: {args.image_size} is below the smallest input "
            f"{'training from scratch' if arch else 'any AlexNet'} admits: {smallest}"
        )
    if needs_weights and args.weights != "imagenet" and not os.path.isfile(args.weights):
        parser.error(f"argument --weights: no file {args.weights!r} (give a file or 'imagenet')")
    if args.checkpoint_dir is not None and os.path.isfile(args.checkpoint_dir):
        parser.error(f"argument --checkpoint-dir: {args.checkpoint_dir!r} is a file, not a folder")


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
# Errors a run can meet in what it was given (data, files, values) rather than in the code.
_INPUT_ERRORS = (ValueError, TypeError, ImportError, FloatingPointError)


def _is_input_error(error: BaseException) -> bool:
    """Whether ``error`` reports a problem with the user's input, worth one line and no traceback.

    That is an OSError (a file missing, unreadable or unwritable: the message names it), or an
    input error that skalexnet raised on purpose: its innermost frame is a ``raise`` statement
    in this package. The same exception types raised anywhere else (inside NumPy, Keras, the
    backend) or by a failing operation in skalexnet itself (an unpacking, a call) are bugs, and
    keep their traceback.
    """
    if isinstance(error, OSError):
        return True
    if not isinstance(error, _INPUT_ERRORS) or error.__traceback__ is None:
        return False
    innermost = error.__traceback__
    while innermost.tb_next is not None:
        innermost = innermost.tb_next
    code = innermost.tb_frame.f_code
    if not os.path.abspath(code.co_filename).startswith(_PACKAGE_DIR):
        return False
    return any(
        instruction.offset == innermost.tb_lasti and instruction.opname == "RAISE_VARARGS"
        for instruction in dis.get_instructions(code)
    )


def main(argv=None) -> int:
    """Entry point of the ``skalexnet`` console script; returns the exit status.

    Mistakes in the arguments end with argparse's usage line and status 2; a problem in the data
    or files the run is given ends with one line naming it and status 1; Ctrl-C with status 130.
    Anything else is a bug and keeps its traceback.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    verbose = 0 if args.quiet else 1
    if args.command == "run":
        _check_run_arguments(parser, args)
    try:
        if args.command == "demo":
            run_demo(args.out, epochs=args.epochs, seed=args.seed, verbose=verbose)
        else:
            settings = Settings(
                epochs=args.epochs,
                image_size=args.image_size,
                batch_size=args.batch_size,
                learning_rate=args.learning_rate,
                schedule=args.schedule,
                precision=args.precision,
                checkpoint_dir=args.checkpoint_dir,
                seed=args.seed,
                weights=args.weights,
                verbose=verbose,
            )
            run_experiments(args.data_dir, args.out, args.tasks, settings)
    except KeyboardInterrupt:
        resume = getattr(args, "checkpoint_dir", None)
        hint = f"; the same command resumes from {resume}" if resume else ""
        print(f"skalexnet: interrupted; no output written{hint}.", file=sys.stderr)
        return 130
    except Exception as error:
        if not _is_input_error(error):
            raise
        print(f"skalexnet: error: {error}", file=sys.stderr)
        return 1
    print(f"report: {os.path.join(os.path.abspath(args.out), 'report.md')}")
    return 0
