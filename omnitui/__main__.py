"""``python -m omnitui``."""

from omnitui.cli import main

if __name__ == "__main__":
    main()
