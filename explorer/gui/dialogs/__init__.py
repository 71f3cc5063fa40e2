"""Dialogs: ONNX export (and, later, weights)."""
