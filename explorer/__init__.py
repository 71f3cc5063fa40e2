"""cnn-explorer: see inside the classic convolutional networks.

Importing this package pulls in neither torch nor Qt.
"""

__version__ = "0.1.0"
