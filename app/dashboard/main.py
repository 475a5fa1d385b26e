"""Streamlit entry point of the TASER Studio dashboard: page navigation only.

Each page is a small file in screens/ (not `pages/`, which Streamlit would also serve on its own
as a legacy multipage app) that runs one `app.dashboard.views` module inside the error
boundary (`common.page_body`), so a failing page shows a readable message, never a traceback.
Pages read through db/ query functions only and queue long work; nothing slow runs here.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `streamlit run` puts only this folder on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from app.dashboard.access import gate  # noqa: E402
from app.plugins import PluginError, load_plugins  # noqa: E402

st.set_page_config(page_title="TASER Studio", page_icon=":material/explore:", layout="wide")
try:  # the TASER_PLUGINS modules' kinds and names appear in the forms and pages
    load_plugins()
except PluginError as exc:
    st.error(str(exc))
    st.stop()
if not gate():
    st.stop()

# Declarative: one st.Page per screen, grouped as the sidebar shows them.
PAGES = {
    "Runs": [
        st.Page("screens/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("screens/launch.py", title="Launch", icon=":material/rocket_launch:"),
        st.Page("screens/runs.py", title="Runs", icon=":material/list:"),
        st.Page("screens/run.py", title="Run detail", icon=":material/search:"),
        st.Page("screens/compare.py", title="Compare", icon=":material/compare_arrows:"),
        st.Page("screens/studies.py", title="Studies", icon=":material/grid_view:"),
    ],
    "Results": [
        st.Page("screens/extrapolation.py", title="1D extrapolation", icon=":material/show_chart:"),
        st.Page("screens/alignment.py", title="Score field & alignment", icon=":material/explore:"),
        st.Page("screens/robustness.py", title="Robustness", icon=":material/shield:"),
        st.Page("screens/overhead.py", title="Overhead", icon=":material/timer:"),
        st.Page("screens/paper_check.py", title="Paper check", icon=":material/fact_check:"),
    ],
    "Share": [
        st.Page("screens/report.py", title="Report", icon=":material/description:"),
    ],
}

st.navigation(PAGES).run()
