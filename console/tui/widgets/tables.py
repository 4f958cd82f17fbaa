"""The console's tables: j/k move, columns follow the terminal's width, rows can be filtered.

``ConsoleTable`` is a DataTable that

- moves with j/k as with the arrows (k9s, htop, less);
- sizes its columns from ``COLUMNS`` whenever it is resized: every column gets its minimum
  width (chosen so a formatted value keeps its unit and a state is never cut), and the width
  left over goes to the columns with a ``flex`` share (names, details);
- keeps every row it was given and shows those matching ``filter_text`` (``/`` in the
  Cameras and Monitoring tabs): a case-insensitive match on any cell's text.

Subclasses add rows with ``put_row`` and change cells with ``put_cell`` (never the DataTable
calls directly), so a filtered-out row keeps its newest values for when it shows again.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.widgets import DataTable


@dataclass(frozen=True)
class ColumnSpec:
    """One column: its key, header, the width below which a value would lose its unit or
    state, and its share of the width left over (0: keeps its minimum)."""

    key: str
    label: str
    min_width: int
    flex: int = 0


def column_widths(specs: Sequence[ColumnSpec], width: int, padding: int = 1) -> dict[str, int]:
    """Content width of each column when the table is ``width`` cells wide.

    Every column gets at least its ``min_width``; what is left after the minimums and the
    cell padding (``padding`` each side) goes to the flex columns in proportion to ``flex``.
    A table narrower than the minimums keeps the minimums (it scrolls sideways).
    """
    widths = {spec.key: max(len(spec.label), spec.min_width) for spec in specs}
    spare = width - sum(widths.values()) - 2 * padding * len(specs)
    shares = sum(spec.flex for spec in specs)
    if spare <= 0 or shares == 0:
        return widths
    given = 0
    flexible = [spec for spec in specs if spec.flex]
    for spec in flexible:
        extra = spare * spec.flex // shares
        widths[spec.key] += extra
        given += extra
    widths[flexible[0].key] += spare - given        # the rounding remainder
    return widths


def cell_text(cell: Any) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


class ConsoleTable(DataTable):
    """A DataTable with j/k, columns fitted to the width, and a row filter (see the module)."""

    COLUMNS: tuple[ColumnSpec, ...] = ()

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.filter_text = ""
        self._all_rows: dict[str, list[Any]] = {}      # key -> cells, in insertion order
        self._fitted_width = 0

    def add_fitted_columns(self) -> None:
        """Add the COLUMNS (once); a subclass calls it first thing in its on_mount."""
        if self.columns:
            return
        widths = column_widths(self.COLUMNS, self.size.width or 80, self.cell_padding)
        for spec in self.COLUMNS:
            self.add_column(spec.label, key=spec.key, width=widths[spec.key])

    def on_mount(self) -> None:
        self.add_fitted_columns()       # runs after a subclass's own on_mount (Textual walks the MRO)

    def on_resize(self, event: events.Resize) -> None:
        self.fit_columns(event.size.width)

    def fit_columns(self, width: int) -> None:
        """Share ``width`` cells among the columns (called on every resize)."""
        if width <= 0 or width == self._fitted_width or not self.columns:
            return
        self._fitted_width = width
        widths = column_widths(self.COLUMNS, width, self.cell_padding)
        for spec in self.COLUMNS:
            column = self.columns.get(spec.key)     # type: ignore[call-overload]
            if column is not None:
                column.width, column.auto_width = widths[spec.key], False
        # DataTable has no public call to resize a column in place: drop its render caches
        # and have it measure itself again (rebuilding the rows would move the cursor, and
        # the Cameras tab would restart its preview).
        self._require_update_dimensions = True
        self._clear_caches()
        self.refresh()

    def column_width(self, key: str) -> int:
        """The content width the column has now (cells, padding excluded)."""
        return self.columns[key].width    # type: ignore[index]

    # ---------------------------------------------------------------- rows

    def put_row(self, key: str, cells: Sequence[Any]) -> None:
        """Add a row (shown when it matches the filter)."""
        self._all_rows[key] = list(cells)
        if self._matches(key):
            self.add_row(*cells, key=key)

    def put_cell(self, key: str, column: str, value: Any) -> None:
        """Change one cell of a row, shown or filtered out."""
        cells = self._all_rows.get(key)
        if cells is None:
            return
        index = [spec.key for spec in self.COLUMNS].index(column)
        cells[index] = value
        if key in self.rows:      # type: ignore[operator]
            self.update_cell(key, column, value)
        elif self._matches(key):
            self._show_rows()

    def drop_rows(self) -> None:
        """Forget every row."""
        self._all_rows.clear()
        self.clear()

    def row_cells(self, key: str) -> list[str]:
        """A row's cells as plain text, shown or filtered out."""
        return [cell_text(c) for c in self._all_rows[key]]

    # ---------------------------------------------------------------- filter

    def set_filter(self, text: str) -> None:
        """Show only the rows with a cell containing ``text`` (any case); "" shows them all."""
        text = text.strip().lower()
        if text == self.filter_text:
            return
        self.filter_text = text
        self._show_rows()

    def shown_keys(self) -> list[str]:
        return [str(key.value) for key in self.rows]

    def _matches(self, key: str) -> bool:
        if not self.filter_text:
            return True
        return any(self.filter_text in cell_text(c).lower() for c in self._all_rows[key])

    def _show_rows(self) -> None:
        keep = None
        if self.row_count and self.cursor_type == "row":
            keep = str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)
        self.clear()
        for key, cells in self._all_rows.items():
            if self._matches(key):
                self.add_row(*cells, key=key)
        shown = self.shown_keys()
        if keep in shown:
            self.move_cursor(row=shown.index(keep), animate=False)
