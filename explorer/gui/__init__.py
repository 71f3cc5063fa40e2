"""The PySide6 desktop app. Views only display; all computation comes from explorer.core."""
