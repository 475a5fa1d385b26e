"""Streamlit entry point of the TASER Studio dashboard."""

import streamlit as st

st.set_page_config(page_title="TASER Studio", layout="wide")
st.title("TASER Studio")
st.write(
    "Task-Aware Stein Regularisation: train classifiers whose sensitivity follows the geometry "
    "of the data. Pages for launching and comparing runs arrive with the worker."
)
