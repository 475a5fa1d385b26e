"""Plug-in modules: extensions that live outside this repository, named by `TASER_PLUGINS`.

A plug-in is an ordinary module that registers what it adds when imported (a dataset, objective,
attack or score source in its registry, a job kind in `app.jobs.JOB_KINDS`, a viewer with
`app.viewers.register_viewer`). Every process that looks names up imports the modules named by
`TASER_PLUGINS` (comma-separated, importable from `sys.path`/`PYTHONPATH`) before it does: the
`taser` command, the dashboard, and each job's child process. The child is needed on its own:
the worker starts jobs with multiprocessing "spawn", so a registration made in the worker's
process is not inherited by the job that runs it.
"""

from __future__ import annotations

import importlib
import os

PLUGINS_ENV = "TASER_PLUGINS"


class PluginError(ImportError):
    """A module named by TASER_PLUGINS that does not import; the message names it."""


def plugin_names() -> list[str]:
    return [name.strip() for name in os.environ.get(PLUGINS_ENV, "").split(",") if name.strip()]


def load_plugins() -> list[str]:
    """Imports every module named by TASER_PLUGINS (once each: importing is idempotent)."""
    names = plugin_names()
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise PluginError(f"{PLUGINS_ENV}: cannot import plug-in module {name!r}: {exc}") from exc
    return names
