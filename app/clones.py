"""Cloning a run: the Launch form's `launch?clone=<run id>` starts from a run's kind, config, name
and tags, and the new run remembers which run it was cloned from.

The origin is a line of the new run's notes, not its `parent_run_id`: a parent is a run the job
reads, and the queue makes the job wait for it (`db.queue.submit_job`); a clone reads nothing of
its origin, and a clone of a failed run, the usual reason to clone, would fail at once waiting for
it. `cloned_from` reads the line back (the run page links to the origin with it).
"""

from __future__ import annotations

import re

from db.entities import RUN_NAME_LENGTH

# A link that clones run N: st.page_link(LAUNCH_PAGE, query_params={CLONE_PARAM: str(N)})
LAUNCH_PAGE, CLONE_PARAM = "screens/launch.py", "clone"
CLONE_NOTE = "cloned from run #{run_id}"
_CLONE_LINE = re.compile(r"^cloned from run #(\d+)$", re.MULTILINE)
COPY_SUFFIX = " (copy)"


def clone_note(run_id: int) -> str:
    return CLONE_NOTE.format(run_id=run_id)


def cloned_from(notes: str | None) -> int | None:
    """The id of the run these notes say the run was cloned from, or None."""
    found = _CLONE_LINE.search(notes or "")
    return int(found.group(1)) if found else None


def copy_name(name: str | None, run_id: int) -> str:
    """"<name> (copy)", cut to fit the name column."""
    base = name or f"run #{run_id}"
    return base[:RUN_NAME_LENGTH - len(COPY_SUFFIX)] + COPY_SUFFIX
