"""plot_samples stage: the first development and test images on two labelled grids."""

from pathlib import Path

from stages import idx
from stages.common import CLASS_NAMES, RAW_DIR, int_param, load_params, run
from stages.figures import image_grid, save_figure

FIGURES_DIR = Path("reports/figures")
SETS = {
    "dev": ("Development set", "train_images", "train_labels"),
    "test": ("Test set", "test_images", "test_labels"),
}


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
