"""PNG figures for the CLI (the dashboard draws its own with plotly)."""

from __future__ import annotations

import numpy as np

from digitrec_core.serving.recognition import NOT_A_DIGIT


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: works without a display
    import matplotlib.pyplot as plt

    return plt


def plot_history(history: dict[str, list[float]], path: str, title: str = "") -> None:
    """Accuracy and loss per epoch, training and validation, side by side as the original script showed them."""
    plt = _pyplot()
    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key in zip(axes, ("accuracy", "loss")):
        ax.plot(epochs, history[key], "o-", label="training")
        if any(v is not None for v in history.get(f"val_{key}", [])):
            ax.plot(epochs, history[f"val_{key}"], "o-", label="validation")
        ax.set(xlabel="epoch", ylabel=key, title=key.capitalize())
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_digit(image: np.ndarray, path: str, *, expected: int | None, predicted: int) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(3, 3.3))
    ax.imshow(image, cmap="gray", interpolation="nearest")
    ax.axis("off")
    shown = "Not a digit" if predicted == NOT_A_DIGIT else f"Predicted: {predicted}"
    label = shown if expected is None else f"Expected: {expected}   {shown}"
    ax.set_title(label, color="black" if expected is None or expected == predicted else "red")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
