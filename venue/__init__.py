"""venue: a FIX exchange venue server."""

__version__ = "0.1.0"
