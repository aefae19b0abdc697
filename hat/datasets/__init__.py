"""Datasets that hat can fetch and read."""
