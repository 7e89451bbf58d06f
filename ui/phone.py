"""The lab on a phone (under 640 px, where Streamlit stacks columns): smaller chrome, a page's action first.

A 390x844 phone spends its first screen on Streamlit's top padding and a three-line page title: both
smaller. A page may also put its action (Gradient Flow: Train) on the first screen by keying the
blocks that come before it on a desktop: PHONE_LATER moves below everything else on the page, and
PHONE_LAST below that (CSS `order` of the block's layout wrapper in the page's column; the desktop layout is
untouched).
"""

from __future__ import annotations

PHONE_LATER = "phone_later"  # st.container keys, at most one of each per page
PHONE_LAST = "phone_last"

PHONE_CSS = f"""<style>@media (max-width: 640px) {{
  [data-testid="stMainBlockContainer"] {{ padding-top: 4.5rem !important; }}
  .stApp h1 {{ font-size: 2rem !important; padding-top: 0 !important; }}
  [data-testid="stLayoutWrapper"]:has(> .st-key-{PHONE_LATER}) {{ order: 1; }}
  [data-testid="stLayoutWrapper"]:has(> .st-key-{PHONE_LAST}) {{ order: 2; }}
}}</style>"""
