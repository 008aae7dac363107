"""The ``negotiator`` command line."""
