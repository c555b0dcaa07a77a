"""PNG plots, one module per step. matplotlib runs on the Agg backend (no screen)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend, imported only when a plot is made."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path) -> Path:
    """Save ``fig`` as PNG atomically and free it."""
    from tuner.outdir import write_atomic

    plt = pyplot()
    try:
        fig.tight_layout()
        write_atomic(path, lambda p: fig.savefig(p, dpi=110, format="png"))
    finally:
        plt.close(fig)
    return path
