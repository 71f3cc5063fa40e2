"""The bundled files (sample photos, the app icon, the desktop entry), installed as ``explorer.resources``.

This folder stays where the README shows it; ``pyproject.toml`` maps it into the package, and the
code reads it only through ``explorer.core.samples`` (importlib.resources), so an installed
wheel finds the same files a source checkout does.
"""
