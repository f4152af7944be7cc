"""Operator tooling of the suite: the ``shixiang`` command and the development launcher (``make dev``)."""
