"""plot_samples stage: the first development and test images on two labelled grids."""

from stages import idx, params
from stages.common import CLASS_NAMES, FIGURES_DIR, RAW_DIR, SAMPLES_FILE, run, write_json
from stages.figures import image_grid, save_figure

SETS = {
    "dev": ("Development set", "train_images", "train_labels"),
    "test": ("Test set", "test_images", "test_labels"),
}


def main():
    grid = params.read("plots.samples_grid")
    count = grid * grid
    record = {"grid": grid, "count": count}
    for key, (set_name, images_key, labels_key) in SETS.items():
        images = idx.load(RAW_DIR, idx.FASHION_MNIST[images_key])[:count]
        labels = idx.load(RAW_DIR, idx.FASHION_MNIST[labels_key])[:count]
        titles = [f"{label}: {CLASS_NAMES[label]}" for label in labels]
        fig = image_grid(images, titles, f"{set_name}: the first {count} images", grid)
        path = FIGURES_DIR / f"samples_{key}.png"
        save_figure(fig, path)
        print(f"{path}: labels {' '.join(map(str, labels))}")
        record[key] = {"title": set_name, "labels": labels.tolist()}
    write_json(SAMPLES_FILE, record)


if __name__ == "__main__":
    run(main)
