"""The engine's version (shown by ``d2lgrade --version``, written into a release)."""
__version__ = "0.1.0"
