"""``python -m omnitui``."""

from omnitui.cli import main

main()
