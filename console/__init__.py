"""btk-console: the terminal face of the btk engine (headless subcommands and the Textual app)."""

__version__ = "0.1.0"
