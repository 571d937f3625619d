"""Progress output that fits where it is read: Keras's progress bar, drawn over itself with
``\\r`` and ANSI colours, only where something redraws it (a terminal, a notebook); one line per
epoch elsewhere (a log file, CI output), where every redraw would be kept as text."""

import sys

VERBOSE = (0, 1, 2)


def draws_progress_bars(stream) -> bool:
    """Whether ``stream`` shows a redrawn progress bar as one bar: a terminal, or a notebook's
    output (ipykernel's, which is no terminal but renders ``\\r`` as Keras's own check assumes).
    """
    isatty = getattr(stream, "isatty", None)
    try:
        if isatty is not None and isatty():
            return True
    except (ValueError, OSError):  # a closed or detached stream
        return False
    return type(stream).__module__.split(".")[0] == "ipykernel"


def keras_verbose(verbose) -> int:
    """Keras's ``verbose`` for an estimator's: 1 (show progress) is Keras's progress bar where
    ``sys.stdout`` draws one and 2 (one line per epoch) elsewhere; 0 and 2 are kept as they are.

    Keras's own check counts every POSIX process as a terminal, so it is made here, each time
    training or prediction starts (``sys.stdout`` may have been redirected since).
    """
    verbose = int(verbose)
    if verbose == 1 and not draws_progress_bars(sys.stdout):
        return 2
    return verbose
