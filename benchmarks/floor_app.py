"""The floor under every lesson's open time (benchmarks/lessons.py): Streamlit, the lab's config, one small Plotly chart.

Nothing of the lab runs here, so a new visitor's time on this page is what Streamlit's front end costs by itself.
"""

import plotly.graph_objects as go
import streamlit as st

st.title("Floor: Streamlit and one chart")
st.plotly_chart(go.Figure(go.Scatter(x=[1, 2, 3], y=[1, 3, 2])))
