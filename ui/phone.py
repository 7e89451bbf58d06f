"""A page's action on the first screen of a phone (under 640 px, where Streamlit stacks columns) and of a projector.

A 390x844 phone spends its first screen on Streamlit's top padding and a three-line page title: both
smaller. A page may also put its action (Gradient Flow: Train, and what it trained) on the first screen by
keying the blocks that come before it on a desktop: ACTION_LATER moves below everything else on the page,
and ACTION_LAST below that (CSS `order` of the block's layout wrapper in the page's column). Presenter mode
stacks every chart to full width, so at 1280x720 the same reordering keeps Train off the second screen there
too (ui/presenter.py adds ACTION_FIRST); the desktop layout is untouched.
"""

from __future__ import annotations

ACTION_LATER = "action_later"  # st.container keys, at most one of each per page
ACTION_LAST = "action_last"

ACTION_FIRST = f"""[data-testid="stLayoutWrapper"]:has(> .st-key-{ACTION_LATER}) {{ order: 1; }}
[data-testid="stLayoutWrapper"]:has(> .st-key-{ACTION_LAST}) {{ order: 2; }}"""

PHONE_CSS = f"""<style>@media (max-width: 640px) {{
  [data-testid="stMainBlockContainer"] {{ padding-top: 4.5rem !important; }}
  .stApp h1 {{ font-size: 2rem !important; padding-top: 0 !important; }}
  {ACTION_FIRST}
}}</style>"""
