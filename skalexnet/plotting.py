"""Learning curves as the study drew them: train against test, accuracy and loss per epoch.

Needs matplotlib (``pip install skalexnet[plot]``); figures are returned, never shown, so that
scripts and notebooks decide what to do with them.
"""


def require_matplotlib():
    """matplotlib's pyplot (non-interactive), or an ImportError that says how to install it."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("Plotting needs matplotlib: pip install 'skalexnet[plot]'.") from error
    return plt


def _round_starts(history: dict) -> list[int]:
    """Epoch numbers (1-based) at which a new fine-tuning round starts, after the first."""
    rounds = history.get("round", [])
    return [i + 1 for i in range(1, len(rounds)) if rounds[i] != rounds[i - 1]]


def plot_history(history: dict, title: str = ""):
    """Train and test accuracy (left) and loss (right) per epoch of one training run.

    Parameters
    ----------
    history : dict of list
        An estimator's ``history_``: ``accuracy``, ``loss`` and, when validation data was given,
        ``val_accuracy`` and ``val_loss``; a ``round`` entry marks fine-tuning rounds.
    title : str, default=''
        Figure title.

    Returns
    -------
    figure : matplotlib.figure.Figure

    Examples
    --------
    >>> from skalexnet.plotting import plot_history
    >>> fig = plot_history({"accuracy": [0.5, 0.8], "loss": [1.0, 0.4]}, "demo")
    >>> [ax.get_ylabel() for ax in fig.axes]
    ['accuracy', 'loss']
    """
    plt = require_matplotlib()
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, ("accuracy", "loss"), strict=True):
        for key, label in ((metric, "train"), (f"val_{metric}", "test")):
            values = history.get(key)
            if values:
                ax.plot(range(1, len(values) + 1), values, marker=".", label=label)
        for start in _round_starts(history):
            ax.axvline(start - 0.5, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_histories(histories: dict, metric: str = "val_accuracy", title: str = ""):
    """One metric of several runs on one chart, with fine-tuning rounds marked.

    Parameters
    ----------
    histories : dict of str to dict
        Run name -> ``history_``.
    metric : str, default='val_accuracy'
        The ``history_`` key to draw (test accuracy by default).
    title : str, default=''
        Figure title.

    Returns
    -------
    figure : matplotlib.figure.Figure

    Examples
    --------
    >>> from skalexnet.plotting import plot_histories
    >>> fig = plot_histories({"scratch": {"val_accuracy": [0.3, 0.5]},
    ...                       "finetune": {"val_accuracy": [0.6, 0.8], "round": [0, 1]}})
    >>> len(fig.axes[0].lines) >= 2
    True
    """
    plt = require_matplotlib()
    figure, ax = plt.subplots(figsize=(8, 4.5))
    for name, history in histories.items():
        values = history.get(metric, [])
        (line,) = ax.plot(range(1, len(values) + 1), values, marker=".", label=name)
        for number, start in enumerate(_round_starts(history)):
            ax.axvline(
                start - 0.5,
                color=line.get_color(),
                linestyle=":",
                linewidth=1,
                label=f"{name}: new round" if number == 0 else None,
            )
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric.replace("val_", "test ").replace("_", " "))
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    figure.tight_layout()
    return figure
