"""Figure helpers shared by plot_samples and evaluate."""

import matplotlib

matplotlib.use("Agg")  # no display on CI machines; must precede pyplot
import matplotlib.pyplot as plt

from stages.common import atomic_path


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
