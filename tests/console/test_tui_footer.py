"""Switching tabs for hours does not pile up footer widgets (issue 12, TUI memory).

Textual's Footer rebuilds its keys on every tab switch and, through ``data_bind``, kept each
removed key reachable; the console's footer drops them (console/tui/widgets/footer.py).
"""
from __future__ import annotations

import gc
from pathlib import Path

from textual.widgets._footer import FooterKey

from camdeck.console.config import load_settings
from camdeck.console.tui.app import make_app
from tests.console import run_async

REPO = Path(__file__).resolve().parents[2]


def _detached_footer_keys() -> int:
    gc.collect()
    # type(o), not isinstance: isinstance reads o.__class__, which warns on torch's deprecated
    # reduce_op object when torch is loaded in the same process
    return sum(1 for o in gc.get_objects() if issubclass(type(o), FooterKey) and not o.is_attached)


@run_async
async def test_tab_rounds_leave_no_removed_footer_keys_alive(tmp_path):
    settings = load_settings(REPO / "config.toml", tmp_path / "data")
    app = make_app(settings, live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        for _ in range(10):                      # each round rebuilds the footer four times
            for key in "2351":
                await pilot.press(key)
                await pilot.pause()
        await pilot.pause()
        # Textual's own Footer kept ~48 per round here (hundreds after ten rounds).
        assert _detached_footer_keys() <= 12
        shown = app.screen.query(FooterKey)
        assert len(shown) > 0 and all(k.is_attached for k in shown)
