"""camdeck's faces: the typer CLI (console.cli) and the Textual TUI (console.tui)."""
__version__ = "0.1.0"
