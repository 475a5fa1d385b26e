"""Streamlit entry point of the TASER Studio dashboard: page navigation only.

Each page is a small file in pages/ that runs one `app.dashboard.views` module inside the error
boundary (`common.page_body`), so a failing page shows a readable message, never a traceback.
Pages read through db/ query functions only and queue long work; nothing slow runs here.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `streamlit run` puts only this folder on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

st.set_page_config(page_title="TASER Studio", page_icon="🧭", layout="wide")

PAGES = {
    "Runs": [
        st.Page("pages/home.py", title="Home", icon="🏠", default=True),
        st.Page("pages/launch.py", title="Launch", icon="🚀"),
        st.Page("pages/runs.py", title="Runs", icon="📋"),
        st.Page("pages/run.py", title="Run detail", icon="🔎"),
        st.Page("pages/compare.py", title="Compare", icon="⚖️"),
    ],
    "Results": [
        st.Page("pages/extrapolation.py", title="1D extrapolation", icon="📈"),
        st.Page("pages/alignment.py", title="Score field & alignment", icon="🧲"),
        st.Page("pages/robustness.py", title="Robustness", icon="🛡️"),
        st.Page("pages/overhead.py", title="Overhead", icon="⏱️"),
        st.Page("pages/paper_check.py", title="Paper check", icon="📄"),
    ],
    "Share": [
        st.Page("pages/report.py", title="Report", icon="📦"),
    ],
}

st.navigation(PAGES).run()
