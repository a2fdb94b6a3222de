"""What the pipeline draws: image grids, training curves and confusion matrices (plot_samples and evaluate)."""

import matplotlib

matplotlib.use("Agg")  # no display on CI machines; must precede pyplot
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from sklearn.metrics import confusion_matrix

from stages.common import CLASS_NAMES, atomic_path, read_json


def image_grid(images, titles, suptitle, grid, title_colors=None):
    """A grid x grid figure of 28x28 images, each with its title, without axes."""
    fig, axes = plt.subplots(grid, grid, figsize=(2 * grid, 2.2 * grid))
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(images[i].reshape(28, 28), cmap="gray_r")
            color = title_colors[i] if title_colors else "black"
            ax.set_title(titles[i], fontsize=9, color=color)
    fig.suptitle(suptitle, fontsize=14)
    fig.tight_layout()
    return fig


def save_figure(fig, path):
    with atomic_path(path) as tmp:
        # No "Software" metadata: the PNG's bytes stay identical across runs.
        fig.savefig(tmp, dpi=100, metadata={"Software": None})
    plt.close(fig)


def curves_figure(curves, title):
    """Train vs validation accuracy and loss, per epoch, side by side."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (metric, path) in zip(axes, curves.items(), strict=False):
        history = pd.DataFrame(read_json(path))
        ax.plot(history["epoch"], history["train"], marker="o", label=f"train {metric}")
        ax.plot(history["epoch"], history["validation"], marker="o", label=f"validation {metric}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(f"{title}: {metric}")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def confusion_figure(labels, predicted, title):
    matrix = confusion_matrix(labels, predicted, labels=range(len(CLASS_NAMES)))
    fig, ax = plt.subplots(figsize=(9, 7.5))
    sns.heatmap(
        matrix, annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax, xticklabels=CLASS_NAMES, yticklabels=CLASS_NAMES
    )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{title}: confusion matrix on the test set")
    fig.tight_layout()
    return fig


def predictions_figure(x_test, labels, predicted, grid, title):
    count = grid * grid
    titles = [
        f"GT:{CLASS_NAMES[a]}\nP:{CLASS_NAMES[p]}" for a, p in zip(labels[:count], predicted[:count], strict=False)
    ]
    colors = ["black" if a == p else "red" for a, p in zip(labels[:count], predicted[:count], strict=False)]
    return image_grid(x_test[:count], titles, f"{title}: the first {count} test images (red: wrong)", grid, colors)
