"""genlab's entry point: `streamlit run app.py`.

A router (Streamlit's st.navigation): the sidebar lists the home page and every page of
genlab.ui.PAGES under its own title and URL (for example /Mode_collapse?view=ab). Each page is a
file in pages/ that also runs on its own, which is how the tests open them.
"""

import streamlit as st

from genlab import runlog, ui

home = st.Page(ui.HOME, title="Home", default=True)
pages = [st.Page(p.file, title=p.title, url_path=p.url_path) for p in ui.PAGES]
page = st.navigation([home, *pages])
with runlog.timed("script", page.url_path or "Home"):  # a no-op unless $GENLAB_TIMING_LOG is set
    page.run()
