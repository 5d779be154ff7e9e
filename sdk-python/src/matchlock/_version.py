"""The package version; equal to the repository's VERSION file (a unit test checks it)."""

__version__ = "0.1.0"
