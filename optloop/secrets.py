"""Mask secrets before anything is shown: the one way a URL reaches a screen, log or file.

Store URLs (``OPTLOOP_STORE_URL``) and tracking URIs may carry a database or HTTP password.
Every display of a URL goes through :func:`mask_url`, and every free text that may quote one
(error messages, exception texts from drivers) through :func:`mask_text`, so a password is
never printed, logged, stored or reported.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

__all__ = ["MASK", "mask_text", "mask_url"]

#: What a password is replaced by (SQLAlchemy's own choice).
MASK = "***"

# ``scheme://user:password@`` anywhere in a text; the password ends at the last ``@`` before
# the host (passwords may hold ``@`` when unquoted) and never spans whitespace or quotes.
_USERINFO = re.compile(
    r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"<>]*:)(?P<pw>[^\s'\"<>]*)@"
)
# libpq key/value style (``password=...``) and URL query parameters (``?password=...``).
_KEYWORD = re.compile(r"(?P<head>\b(?:password|passwd|pwd)\s*=\s*)(?P<pw>'[^']*'|[^\s&;'\"]+)",
                      re.IGNORECASE)


def mask_url(url: str) -> str:
    """Return ``url`` with its password (if any) replaced by ``***``.

    Database URLs are rendered by SQLAlchemy (``render_as_string(hide_password=True)``); other
    URLs (HTTP tracking servers) and strings that are not URLs at all are masked as text, so
    this never raises and never returns a password.

    Args:
        url: A SQLAlchemy URL, a tracking URI, or any string.
    """
    text = str(url)
    if "://" in text and urlsplit(text).password is not None:
        try:
            from sqlalchemy.engine import make_url

            text = make_url(text).render_as_string(hide_password=True)
        except Exception:  # noqa: BLE001 - an unparsable URL is masked as text below
            pass
    return mask_text(text)


def mask_text(text: str) -> str:
    """Return ``text`` with every password in a URL or ``password=`` setting masked.

    Args:
        text: Free text, e.g. an exception message that may quote a connection URL.
    """
    text = _USERINFO.sub(lambda m: f"{m['head']}{MASK}@", str(text))
    return _KEYWORD.sub(lambda m: f"{m['head']}{MASK}", text)
