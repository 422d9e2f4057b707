"""Plots of results; nothing else in zentai imports this package."""

from zentai.viewer.plots import cell_class, raster_and_rates, raster_and_rates_figure

__all__ = ["cell_class", "raster_and_rates", "raster_and_rates_figure"]
