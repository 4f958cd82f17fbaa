"""The console's footer: Textual's Footer, minus a leak of one set of key widgets per focus change.

Textual's Footer (8.x) recomposes its FooterKey widgets whenever the bindings change (every
tab switch and focus move) and binds each new key to its own ``compact`` reactive with
``data_bind``. That registers a watcher on the Footer naming the key; Textual drops the
watchers of closed widgets only when ``compact`` changes, which in this console it never
does. So every removed key stays reachable with its styles and message queue: measured,
about 48 FooterKey objects per round of the five tabs, growing without end over a session.

After each recompose, ``ConsoleFooter`` drops the watchers whose widget has closed, the
same filter Textual applies when the reactive changes.
"""
from __future__ import annotations

from textual.widgets import Footer


class ConsoleFooter(Footer):
    """A Footer that does not keep its removed keys alive (see the module docstring)."""

    async def recompose(self) -> None:
        await super().recompose()
        prune_closed_watchers(self)


def prune_closed_watchers(node) -> int:
    """Drop the reactive watchers on ``node`` registered by widgets that have closed.

    Returns how many were dropped. Textual keeps them in the ``__watchers`` attribute it
    sets on the watched object (reactive.py ``_watch``), a dict of name -> [(node, callback)].
    """
    watchers = getattr(node, "__watchers", None) or {}
    dropped = 0
    for entries in watchers.values():
        alive = [(owner, callback) for owner, callback in entries if not (owner._closing or owner._closed)]
        dropped += len(entries) - len(alive)
        entries[:] = alive
    return dropped
