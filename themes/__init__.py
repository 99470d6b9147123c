"""The console's looks: three palettes (Textual themes) and one stylesheet that uses only their
variables, so PnL, borders and highlights follow whichever palette is active.

- ``btk-dark`` (default): dark background, green/red PnL;
- ``btk-light``: for light terminals;
- ``btk-high-contrast``: the terminal's own 16 ANSI colours, which read well in tmux, over SSH
  and in a plain xterm (no true colour needed).

On a 16-colour terminal (TERM=xterm) every colour is drawn as the nearest of the 16 ANSI ones, so
the palettes are chosen for where they land there too (issue 14 item 16): btk-dark's accent is an
amber that lands on yellow (an orange landed on the bright red of the LIVE badge), btk-light's
green lands on green (a darker one landed on dark grey). btk-high-contrast never names white or
black for text: the terminal's own foreground reads on its own background, light or dark.
"""

from __future__ import annotations

from pathlib import Path

from textual.theme import Theme

STYLESHEET = Path(__file__).with_name("btk.tcss")

BTK_DARK = Theme(
    name="btk-dark",
    primary="#4C9AFF",
    secondary="#8AB4F8",
    accent="#E3B341",
    warning="#E3B341",
    error="#F0616D",
    success="#3FB950",
    foreground="#D7DCE2",
    background="#0E1116",
    surface="#161B22",
    panel="#1F2630",
    dark=True,
)

BTK_LIGHT = Theme(
    name="btk-light",
    primary="#0B5CD5",
    secondary="#3B6FB6",
    accent="#B35C00",
    warning="#B35C00",
    error="#C62633",
    success="#1F883D",
    foreground="#1F2328",
    background="#F7F8FA",
    surface="#FFFFFF",
    panel="#E6EAF0",
    dark=False,
)

BTK_HIGH_CONTRAST = Theme(
    name="btk-high-contrast",
    ansi=True,
    primary="ansi_cyan",
    secondary="ansi_blue",
    accent="ansi_magenta",
    warning="ansi_yellow",
    error="ansi_red",
    success="ansi_green",
    foreground="ansi_default",
    background="ansi_default",
    surface="ansi_default",
    panel="ansi_default",
    boost="ansi_default",
    dark=True,
    variables={
        "ansi-background": "ansi_default",
        "ansi-foreground": "ansi_default",
        "border": "ansi_default",
        "border-blurred": "ansi_bright_black",
        "block-cursor-foreground": "ansi_black",
        "block-cursor-background": "ansi_cyan",
        "block-cursor-blurred-foreground": "ansi_black",
        "block-cursor-blurred-background": "ansi_bright_black",
        "footer-key-foreground": "ansi_magenta",
        "footer-description-foreground": "ansi_default",
        "input-selection-background": "ansi_blue",
        "screen-selection-background": "ansi_blue",
        "text-muted": "ansi_bright_black",
    },
)

THEMES: tuple[Theme, ...] = (BTK_DARK, BTK_LIGHT, BTK_HIGH_CONTRAST)
DEFAULT_THEME = BTK_DARK.name
THEME_NAMES = tuple(t.name for t in THEMES)
