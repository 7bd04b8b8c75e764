"""Placeholder imported by core/models.py; replaced by its owner in issue #6."""
