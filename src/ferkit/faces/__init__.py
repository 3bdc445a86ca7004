"""Faces: detectors (one registry) and the canonical face crop every model input is made with.

This layer sits below ``data`` and ``inference`` so training data preparation, evaluation, prediction, export
metadata and serving all crop faces with the same code (``ferkit.faces.crop``).
"""
