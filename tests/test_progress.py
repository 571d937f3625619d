"""Progress output fits where it is read: Keras's redrawn bars only where something redraws
them (a terminal, a notebook), one line per epoch in a log file or CI output (issue #24 item 5)."""

import io
import re
import sys

import pytest
from digits import DIGITS_IMAGE_SIZE

from skalexnet import AlexNetClassifier
from skalexnet._progress import keras_verbose

COMMON = {"image_size": DIGITS_IMAGE_SIZE, "batch_size": 16, "augment": None, "random_state": 0}
SUMMARY_LINE = re.compile(r"^\d+/\d+ - \d+s - .*loss: ")  # Keras's verbose=2 line per epoch


class Terminal(io.StringIO):
    """What a terminal is to Keras and to skalexnet: a stream whose isatty() is True."""

    def isatty(self):
        return True


@pytest.mark.parametrize(
    ("stream", "verbose", "expected"),
    [
        (io.StringIO, 1, 2),  # a log file: one line per epoch
        (Terminal, 1, 1),  # a terminal: Keras's progress bar
        (io.StringIO, 0, 0),
        (Terminal, 0, 0),
        (Terminal, 2, 2),  # an explicit 2 stays one line per epoch, even on a terminal
        (io.StringIO, 2, 2),
        (Terminal, True, 1),
    ],
)
def test_verbose_reaching_keras_follows_stdout(stream, verbose, expected, monkeypatch):
    monkeypatch.setattr(sys, "stdout", stream())
    assert keras_verbose(verbose) == expected


def fit_and_predict(monkeypatch, stream, digits_5_to_9, epochs=2):
    X_train, y_train, _, _ = digits_5_to_9
    out = stream()
    monkeypatch.setattr(sys, "stdout", out)
    clf = AlexNetClassifier(epochs=epochs, verbose=1, **COMMON).fit(X_train[:32], y_train[:32])
    fitted = out.getvalue()
    clf.predict(X_train[:8])
    return fitted, out.getvalue()[len(fitted) :]


def test_a_log_file_gets_one_line_per_epoch_and_no_terminal_codes(monkeypatch, digits_5_to_9):
    fitted, predicted = fit_and_predict(monkeypatch, io.StringIO, digits_5_to_9, epochs=3)
    for output in (fitted, predicted):
        assert "\x1b[" not in output and "\r" not in output and "\b" not in output
    lines = fitted.splitlines()
    assert [line for line in lines if line.startswith("Epoch ")] == [
        "Epoch 1/3",
        "Epoch 2/3",
        "Epoch 3/3",
    ]
    assert sum(bool(SUMMARY_LINE.match(line)) for line in lines) == 3
    assert len(lines) == 6  # nothing else: no line per batch
    assert len(predicted.splitlines()) == 1  # prediction: one line when done


def test_a_terminal_gets_keras_progress_bar(monkeypatch, digits_5_to_9):
    fitted, predicted = fit_and_predict(monkeypatch, Terminal, digits_5_to_9)
    # The bar: ANSI bold and colours, redrawn in place with \r.
    assert "\x1b[" in fitted and "\r" in fitted
    assert "\x1b[" in predicted


def test_verbose_outside_0_1_2_is_refused(digits_5_to_9):
    X_train, y_train, _, _ = digits_5_to_9
    with pytest.raises(ValueError, match=r"verbose must be one of \[0, 1, 2\]; got 3"):
        AlexNetClassifier(epochs=1, verbose=3, **COMMON).fit(X_train[:32], y_train[:32])
