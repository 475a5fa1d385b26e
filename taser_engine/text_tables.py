"""Tables as text: CSV, Markdown, LaTeX and HTML, with the one `latex_escape`.

Two kinds of caller share these renderers: plain row tables (a list of dicts, e.g. the dashboard's
exports and the HTML report) use `to_csv` / `to_markdown` / `to_latex` / `to_html`; laid-out tables
whose cells are already formatted (the paper's Table 2 / Table 3 in `taser_engine.evaluation.tables`,
with grouped headers and bold cells) use `to_csv` on flattened rows, `markdown_grid` and `latex_grid`.
Pure string rendering: no I/O.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Mapping, Sequence

# Mapped one character at a time, so the backslash's replacement is not itself escaped again.
LATEX_SPECIALS = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                  "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
                  "×": r"$\times$", "Δ": r"$\Delta$", "–": "--"}


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIALS.get(char, char) for char in text)


def columns_of(rows: Sequence[Mapping]) -> list[str]:
    """Every key of every row, in first-seen order (rows need not share keys)."""
    return list(dict.fromkeys(key for row in rows for key in row))


def cell_text(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# ---------------------------------------------------------------- formatted grids

def to_csv(rows: Sequence[Mapping]) -> str:
    """One CSV line per row; the header is every key seen; a missing or None value is empty."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns_of(rows), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: "" if value is None else value for key, value in row.items()})
    return out.getvalue()


def markdown_grid(header: Sequence[str], body: Sequence[Sequence[str]], *, numeric: bool = False) -> str:
    """A pipe table of already-formatted cells; `numeric` right-aligns every column but the first."""
    rules = ["---"] + (["---:"] if numeric else ["---"]) * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rules) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines) + "\n"


def latex_row(cells: Sequence[str]) -> str:
    return " & ".join(cells) + r" \\"


def latex_grid(spec: str, head: Sequence[str], body: Sequence[str], *, caption: str = "",
               caption_above: bool = False) -> str:
    """A booktabs `table` environment (\\usepackage{booktabs}); `head` and `body` are finished
    LaTeX lines (see `latex_row`), so callers may bold or span cells; `caption` is plain text."""
    caption_line = [r"\caption{" + latex_escape(caption) + "}"] if caption else []
    return "\n".join([r"\begin{table}[t]", r"\centering", *(caption_line if caption_above else []),
                      rf"\begin{{tabular}}{{{spec}}}", r"\toprule", *head, r"\midrule", *body,
                      r"\bottomrule", r"\end{tabular}", *([] if caption_above else caption_line),
                      r"\end{table}", ""])


# ---------------------------------------------------------------- plain row tables

def to_markdown(rows: Sequence[Mapping]) -> str:
    columns = columns_of(rows)
    return markdown_grid(columns, [[cell_text(row.get(c)).replace("|", "\\|") for c in columns] for row in rows])


def to_latex(rows: Sequence[Mapping], caption: str = "") -> str:
    columns = columns_of(rows)
    body = [latex_row([latex_escape(cell_text(row.get(c))) for c in columns]) for row in rows]
    return latex_grid("l" * len(columns), [latex_row([latex_escape(c) for c in columns])], body, caption=caption)


def to_html(rows: Sequence[Mapping]) -> str:
    columns = columns_of(rows)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell_text(row.get(c)))}</td>" for c in columns) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
