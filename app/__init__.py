"""What the Streamlit pages share: the cached engine, sessions, formatting and widgets."""
