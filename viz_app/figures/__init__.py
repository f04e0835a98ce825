"""Pure figure functions: numpy arrays and labels in, plotly Figures out. No torch, no streamlit."""
