"""Small-cell suppression of a two-way table of counts the report builds itself (LOS bins).

The marts already apply the project's rule (sql/macros/suppression.sql); the report's one table
that is not a mart, episodes by program x LOS bin, gets the same rule here: no cell may show
1-10, and no suppressed cell may be derived from the others. A line is a row or a column with
its total (the totals are cells too). Every line that holds a suppressed cell must hold at least
two, one of them of 11 or more; until it does, its smallest shown cell of 11 or more (the total
only when no other qualifies) is suppressed too, repeated until nothing changes.

Totals that the marts publish anyway (each program's and each level's discharged episodes, in
marts.length_of_stay) are `published`: hiding them here would protect nothing, so they never
count towards a line's two suppressed cells and are never chosen as its complement. Rows the
marts suppressed are not shown one by one: they are merged into one row, every cell of it
suppressed (its total is what the level's total less the shown programs' leaves).
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Sequence

SMALL = 10  # counts 1..SMALL are suppressed; 0 is shown

Cell = tuple[Hashable, Hashable]


def suppress_lines(
    counts: dict[Cell, int],
    lines: Sequence[tuple[Sequence[Cell], Cell]],
    small: Collection[Cell] = (),
    published: Collection[Cell] = (),
) -> set[Cell]:
    """The cells to hide. `lines` are (member cells, total cell); every cell is in `counts`.
    Cells of 1-10 are hidden, and so are the `small` ones (e.g. 1-10 persons behind a larger
    count of episodes); `published` cells are known elsewhere (see the module docstring)."""
    published = set(published)
    hidden = {c for c, n in counts.items() if 0 < n <= SMALL and c not in published}
    hidden |= set(small) - published
    changed = True
    while changed:
        changed = False
        for members, total in lines:
            held = [c for c in [*members, total] if c in hidden]
            if not held or (len(held) >= 2 and any(counts[c] > SMALL for c in held)):
                continue
            candidates = sorted(
                (counts[c], str(c)) for c in members if c not in hidden and counts[c] > SMALL
            )
            if candidates:
                pick = next(c for c in members if str(c) == candidates[0][1])
            elif total not in hidden and total not in published:
                pick = total
            else:
                # Only zeros are left: nothing else in the line can be hidden.
                continue
            hidden.add(pick)
            changed = True
    return hidden


def suppress_table(
    table: dict[Hashable, dict[Hashable, int]],
    columns: Sequence[Hashable],
    small: Collection[Cell] = (),
    *,
    published_totals: bool = False,
) -> tuple[dict[Hashable, dict[Hashable, int]], set[Cell]]:
    """A rows x columns table of counts with its totals ('All' row, 'Total' column) added, and
    the set of (row, column) cells to show as "<11". With `published_totals`, the row totals
    (the 'Total' column, 'All' included) are known elsewhere and never hidden."""
    rows = list(table)
    full: dict[Hashable, dict[Hashable, int]] = {}
    for row in rows:
        full[row] = {c: int(table[row].get(c, 0)) for c in columns}
        full[row]["Total"] = sum(full[row][c] for c in columns)
    full["All"] = {c: sum(full[r][c] for r in rows) for c in [*columns, "Total"]}
    counts = {(r, c): n for r, values in full.items() for c, n in values.items()}
    lines: list[tuple[list[Cell], Cell]] = [
        ([(r, c) for c in columns], (r, "Total")) for r in [*rows, "All"]
    ]
    lines += [([(r, c) for r in rows], ("All", c)) for c in [*columns, "Total"]]
    published = {(r, "Total") for r in [*rows, "All"]} if published_totals else set()
    return full, suppress_lines(counts, lines, small, published)
