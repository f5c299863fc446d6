"""The stakeholder dashboard: `publish` writes the read-only snapshot after every run, `data`
queries it, `widgets` lays it out for Voilà (notebooks/dashboard.ipynb). The widgets are not
imported here, so the pipeline can publish without loading ipywidgets."""
from .data import CustomerFilter, DashboardData, Page, load
from .publish import META, POINTER, current_generation

__all__ = ["CustomerFilter", "DashboardData", "Page", "load", "META", "POINTER", "current_generation"]
