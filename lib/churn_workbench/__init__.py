"""Churn workbench: churn prediction, feedback analysis and retention actions under enforced data governance."""
__version__ = "0.1.0"
