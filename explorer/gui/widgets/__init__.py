"""The views of the main window; each one displays what explorer.core computed."""
