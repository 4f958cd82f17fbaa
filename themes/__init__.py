"""camdeck's Textual themes and stylesheet.

Three themes, chosen by ``[console] theme`` in config.toml and switchable from the command
palette ("Theme"): ``camdeck-dark`` (the default, for a dim room or a night field),
``camdeck-light`` and ``camdeck-sunlight`` (high contrast: black on white with saturated
accents, readable on a laptop in direct sun).

Textual is imported here only by the TUI (``console.tui``); the CLI never imports this package.
"""
from __future__ import annotations

from pathlib import Path

from textual.theme import Theme

STYLESHEET = Path(__file__).with_name("camdeck.tcss")

CAMDECK_DARK = Theme(
    name="camdeck-dark",
    primary="#2F9BD7",
    secondary="#1F5F86",
    accent="#F2A93B",
    warning="#F2A93B",
    error="#E0475B",
    success="#4CC38A",
    foreground="#DCE3E8",
    background="#101418",
    surface="#161C22",
    panel="#1E262E",
    dark=True,
    variables={
        "footer-key-foreground": "#F2A93B",
        "block-cursor-text-style": "bold",
    },
)

CAMDECK_LIGHT = Theme(
    name="camdeck-light",
    primary="#0B5E91",
    secondary="#2F9BD7",
    accent="#B35C00",
    warning="#B35C00",
    error="#B3122E",
    success="#1E7B4D",
    foreground="#1B2329",
    background="#F1F3F5",
    surface="#E4E8EC",
    panel="#D6DCE2",
    dark=False,
    variables={
        "footer-key-foreground": "#0B5E91",
    },
)

# Sunlight: maximum luminance contrast, no mid-grey text, no transparency tricks.
CAMDECK_SUNLIGHT = Theme(
    name="camdeck-sunlight",
    primary="#0000B0",
    secondary="#000000",
    accent="#A00000",
    warning="#A04000",
    error="#C00000",
    success="#006000",
    foreground="#000000",
    background="#FFFFFF",
    surface="#FFFFFF",
    panel="#E8E8E8",
    dark=False,
    text_alpha=1.0,
    luminosity_spread=0.05,
    variables={
        "footer-key-foreground": "#0000B0",
        "footer-foreground": "#000000",
        "footer-description-foreground": "#000000",
        "block-cursor-background": "#000000",
        "block-cursor-foreground": "#FFFFFF",
        "block-cursor-text-style": "bold",
        "block-cursor-blurred-background": "#404040",
        "block-cursor-blurred-foreground": "#FFFFFF",
        "text-muted": "#000000",
        "border": "#000000",
        "border-blurred": "#404040",
    },
)

THEMES: tuple[Theme, ...] = (CAMDECK_DARK, CAMDECK_LIGHT, CAMDECK_SUNLIGHT)
THEME_NAMES: tuple[str, ...] = tuple(t.name for t in THEMES)
DEFAULT_THEME = CAMDECK_DARK.name


def register_themes(app) -> None:
    """Register every camdeck theme on a Textual ``App`` (before setting ``app.theme``)."""
    for theme in THEMES:
        app.register_theme(theme)
