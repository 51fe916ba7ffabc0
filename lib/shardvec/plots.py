"""Figures drawn without a display (matplotlib's Agg canvas), for the reports' PNG files."""

from __future__ import annotations


def figure(width: float, height: float):
    """A matplotlib Figure of this size in inches, at 100 dpi, that needs no GUI backend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig
