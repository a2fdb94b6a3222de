"""plot_samples stage: the first development and test images on two labelled grids."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on CI machines; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402

from stages import idx  # noqa: E402
from stages.common import CLASS_NAMES, RAW_DIR, atomic_path, int_param, load_params, run  # noqa: E402

FIGURES_DIR = Path("reports/figures")
SETS = {
    "dev": ("Development set", "train_images", "train_labels"),
    "test": ("Test set", "test_images", "test_labels"),
}


def image_grid(images, titles, suptitle, grid, title_colors=None):
    """A grid x grid figure of images, each with its title, without axes."""
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
        # Fixed metadata keeps the PNG's bytes identical from run to run.
        fig.savefig(tmp, dpi=100, metadata={"Software": None})
    plt.close(fig)


def main():
    grid = int_param(load_params(), "plots.samples_grid", minimum=1)
    count = grid * grid
    for key, (set_name, images_key, labels_key) in SETS.items():
        images = idx.load(RAW_DIR, idx.FASHION_MNIST[images_key])[:count]
        labels = idx.load(RAW_DIR, idx.FASHION_MNIST[labels_key])[:count]
        titles = [f"{label}: {CLASS_NAMES[label]}" for label in labels]
        fig = image_grid(images, titles, f"{set_name}: the first {count} images", grid)
        path = FIGURES_DIR / f"samples_{key}.png"
        save_figure(fig, path)
        print(f"{path}: labels {' '.join(map(str, labels))}")


if __name__ == "__main__":
    run(main)
