"""Run cnn-explorer from a source checkout: ``python main.py [args]``."""

from explorer.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
