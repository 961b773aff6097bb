"""A file without any model."""

WIDTH = 3
