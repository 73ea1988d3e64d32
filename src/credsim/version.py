"""The package version: a leaf module (it imports nothing), so any module can read it without
importing the package's ``__init__``, which imports the public API."""

__version__ = "0.1.0"
