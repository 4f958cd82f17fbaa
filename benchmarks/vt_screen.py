"""A small terminal emulator for the TUI benchmarks: just enough VT100/xterm to keep the screen
Textual draws, answer the queries it sends, and count the preview frames painted.

benchmarks/tui_thin_link.py feeds it what it reads from the TUI's pty at a fixed byte rate.
Textual wraps every screen update in a synchronized update (``ESC[?2026h`` ... ``ESC[?2026l``);
at the end of each, ``on_update(screen, blocks)`` is called, ``blocks`` saying whether it wrote
half-block cells (only the preview draws those).
"""
from __future__ import annotations

import codecs
import re
from typing import Callable

HALF_BLOCK = "\u2580"
SYNC_MODE = "2026"
# One token of terminal output: a CSI sequence, a string sequence (OSC, DCS, ... up to BEL or
# ST), another escape, one control character, or a run of printable text.
_TOKEN = re.compile(r"\x1b\[[\x20-\x3f]*[\x40-\x7e]|\x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)"
                    r"|\x1b[()#%].|\x1b[^\[\]PX^_()#%]|[\x00-\x1a\x1c-\x1f]|[^\x00-\x1f]+")


class Screen:
    """Just enough of a VT100/xterm for Textual's output: cursor moves, text, erase, SGR,
    synchronized output, and the replies to the queries Textual and camdeck send.

    Args:
        cols, rows: the terminal size.
        reply: called with the bytes a terminal sends back (query answers).
        on_update: called at the end of each synchronized update with the screen and whether
            the update wrote half-block cells.
    """

    def __init__(self, cols: int, rows: int, reply: Callable[[bytes], None],
                 on_update: Callable[["Screen", bool], None] | None = None) -> None:
        self.cols, self.rows = cols, rows
        self.reply = reply
        self.on_update = on_update
        self.chars = [[" "] * cols for _ in range(rows)]
        self.styles = [[""] * cols for _ in range(rows)]
        self.x = self.y = 0
        self.sgr = ""
        self.updates = 0           # completed synchronized updates (ESC[?2026l)
        self.dsr_answered = 0
        self._blocks = False       # the update under way wrote half-block cells
        self.synchronizing = False # inside ESC[?2026h ... ESC[?2026l
        self._frozen: list[str] | None = None   # what the screen showed when the update began
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._rest = ""

    def feed(self, data: bytes) -> None:
        """Apply terminal output; a sequence cut at the end of ``data`` waits for the next call."""
        text = self._rest + self._decoder.decode(data)
        pos, end = 0, len(text)
        while pos < end:
            match = _TOKEN.match(text, pos)
            if match is None:            # an escape sequence not complete yet
                break
            pos = match.end()
            token = match.group(0)
            first = token[0]
            if first != "\x1b" and first >= " ":
                self._put(token)
            elif first == "\x1b":
                if token[1:2] == "[":
                    self._csi(token[2:-1], token[-1])
            elif token == "\r":
                self.x = 0
            elif token == "\n":
                self.y = min(self.rows - 1, self.y + 1)
            elif token == "\b":
                self.x = max(0, self.x - 1)
        self._rest = text[pos:]

    def _put(self, run: str) -> None:
        y, x = self.y, self.x
        if y >= self.rows or x >= self.cols:
            return
        n = min(len(run), self.cols - x)
        if HALF_BLOCK in run[:n]:
            self._blocks = True
        self.chars[y][x:x + n] = run[:n]
        self.styles[y][x:x + n] = [self.sgr] * n
        self.x = min(self.cols, x + len(run))

    def _csi(self, params: str, final: str) -> None:
        private = params[:1] in ("?", ">", "<", "=")
        body = params.lstrip("?><=").rstrip("$ ")
        nums = [int(p) if p.isdigit() else 0 for p in body.split(";")] if body else []
        first = nums[0] if nums else 0
        if final in "Hf":
            row = nums[0] if nums else 1
            col = nums[1] if len(nums) > 1 else 1
            self.y = min(self.rows - 1, max(0, row - 1))
            self.x = min(self.cols - 1, max(0, col - 1))
        elif final == "A":
            self.y = max(0, self.y - max(1, first))
        elif final == "B":
            self.y = min(self.rows - 1, self.y + max(1, first))
        elif final == "C":
            self.x = min(self.cols - 1, self.x + max(1, first))
        elif final == "D":
            self.x = max(0, self.x - max(1, first))
        elif final == "G":
            self.x = min(self.cols - 1, max(0, first - 1))
        elif final == "K":
            start, end = {0: (self.x, self.cols), 1: (0, self.x + 1), 2: (0, self.cols)}.get(first, (0, 0))
            for x in range(start, end):
                self.chars[self.y][x], self.styles[self.y][x] = " ", self.sgr
        elif final == "J" and first in (2, 3):
            for y in range(self.rows):
                self.chars[y] = [" "] * self.cols
                self.styles[y] = [self.sgr] * self.cols
        elif final == "m" and not private:
            self.sgr = "" if body in ("", "0") else body
        elif final == "n" and first == 6:
            self.dsr_answered += 1     # answered by ThinLink as the bytes are read
        elif final == "p" and params.startswith("?") and params.endswith("$"):
            supported = 2 if body == SYNC_MODE else 0
            self.reply(f"\x1b[?{body};{supported}$y".encode())
        elif final == "h" and private and body == SYNC_MODE:
            self._frozen = self.text()
            self.synchronizing = True
        elif final == "l" and private and body == SYNC_MODE:
            self.synchronizing = False
            self._frozen = None
            self.updates += 1
            blocks, self._blocks = self._blocks, False
            if self.on_update is not None:
                self.on_update(self, blocks)

    def text(self) -> list[str]:
        """The rows as written so far (mid-update, a mix of the old screen and the new)."""
        return ["".join(row) for row in self.chars]

    def shown(self) -> list[str]:
        """The rows a terminal with synchronized output shows: inside an update, the screen as it
        was when the update began; the update appears whole when it ends."""
        return list(self._frozen) if self.synchronizing and self._frozen is not None else self.text()
