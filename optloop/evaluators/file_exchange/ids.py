"""Ids a lab writes by hand: not sequential, with a check character, so a typo is caught.

A lab copies a ticket's trial id into its metadata by hand. Sequential ids (``trial-0007``)
turn a typo or two swapped digits into another real trial; these ids cannot: the body is a
hash of optloop's own key (so neighbouring trials share nothing), and a check character makes
every id that differs from a valid one in a single character, or by any two characters
swapped, invalid.

Format: ``<kind>-<body><check>``, e.g. ``T-7K4QM9X``: a kind letter (``T`` trial, ``C`` cell),
a dash, :data:`BODY_LENGTH` characters of :data:`ALPHABET` and a check character.

The check: with the characters' values ``v_i`` in :data:`ALPHABET` (31 symbols, a prime) and
weights ``i + 1`` for the ``i``-th character after the dash counted from the check (weight 1)
leftwards, ``sum(w_i * v_i) = 0 (mod 31)``. As 31 is prime and every weight is distinct and
non-zero mod 31, any one changed character changes the sum, and so does swapping any two
different characters (``(w_i - w_j)(v_i - v_j) != 0 mod 31``). The kind letter is part of the
sum (as a prefix weight), so a trial id is never a valid cell id.

A cell gets its own id (kind ``C``) from its ticket's key and its attempt (:func:`make_cell_id`):
the first cell of a trial is attempt 1, a rebuild after a lost cell the next attempt, so every
physical cell carries a label no other cell of the folder has. A lab may keep its own labels
instead; :func:`looks_checked` tells a checked id (or a mistyped one) from such free text.

Input is read leniently where no information is lost: case, spaces, and the letters that
people confuse with digits (``O`` -> ``0``, ``I``/``L`` -> ``1``; ``Z`` and ``U`` are not in the
alphabet); :func:`normalise_id` does that, :func:`check_id` says what is wrong,
:func:`suggest_ids` lists the known ids closest to a mistyped one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

__all__ = [
    "ALPHABET",
    "BODY_LENGTH",
    "ID_KINDS",
    "check_character",
    "check_id",
    "is_valid_id",
    "looks_checked",
    "make_cell_id",
    "make_id",
    "normalise_id",
    "suggest_ids",
]

#: 31 symbols (a prime count): digits and capitals without I, L, O, U (read as 1, 1, 0, V)
#: and Z (read as 2).
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXY"
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
_MOD = len(ALPHABET)
#: Hash characters per id: 31**6 = 8.9e8 ids per kind.
BODY_LENGTH = 6
#: Kind letters: ``T`` a trial's ticket, ``C`` a cell.
ID_KINDS = {"T": "trial", "C": "cell"}
_CONFUSED = {"O": "0", "I": "1", "L": "1"}


def _weighted_sum(kind: str, body: str) -> int:
    """Return the check sum of kind letter and body, with the check's weight 1 left out."""
    chars = [kind, *body]
    n = len(chars)
    total = 0
    for i, c in enumerate(chars):
        weight = n - i + 1  # the body's last character 2, ..., the kind letter n + 1
        value = _VALUE.get(c, 0) if i else (ord(c) % _MOD)
        total += weight * value
    return total % _MOD


def check_character(kind: str, body: str) -> str:
    """Return the check character of an id's kind letter and body.

    Raises:
        ValueError: If the kind or a body character is not allowed (names it and the limit).
    """
    if kind not in ID_KINDS:
        raise ValueError(f"kind={kind!r}; allowed: {sorted(ID_KINDS)}")
    bad = [c for c in body if c not in _VALUE]
    if bad:
        raise ValueError(f"id body {body!r} has {bad[0]!r}; allowed: {ALPHABET}")
    if len(body) + 2 >= _MOD:
        raise ValueError(f"id body of {len(body)} characters; limit: {_MOD - 3}")
    return ALPHABET[(-_weighted_sum(kind, body)) % _MOD]


def make_id(key: str, *, kind: str = "T", salt: int = 0) -> str:
    """Make the checked id of ``key`` (optloop's own name for the thing), e.g. ``T-7K4QM9X``.

    The same key gives the same id; keys that differ in one character give unrelated ids.

    Args:
        key: What the id stands for (a trial's job key, a cell's name).
        kind: ``"T"`` for a trial's ticket, ``"C"`` for a cell.
        salt: Another id for the same key (to step round a collision).

    Raises:
        ValueError: If the kind is unknown.
    """
    digest = hashlib.sha256(f"{kind}:{salt}:{key}".encode()).digest()
    number = int.from_bytes(digest[:8], "big")
    body = ""
    for _ in range(BODY_LENGTH):
        number, r = divmod(number, _MOD)
        body += ALPHABET[r]
    return f"{kind}-{body}{check_character(kind, body)}"


def make_cell_id(key: str, attempt: int = 1, *, salt: int = 0) -> str:
    """Make the checked cell id of a ticket's cell, e.g. ``C-4H7QK2M``.

    Args:
        key: The ticket's key (the exchange's job id).
        attempt: Which cell of the trial: 1 the first, 2 the first rebuild after a loss, ...
        salt: Another id for the same cell (to step round a collision).
    """
    return make_id(f"{key}#cell{attempt}", kind="C", salt=salt)


def normalise_id(text: str) -> str:
    """Return ``text`` as an id would be written: upper case, no spaces, O/I/L as 0/1/1."""
    cleaned = "".join(text.split()).upper()
    if len(cleaned) > 2 and cleaned[1] == "-":
        head, tail = cleaned[:2], cleaned[2:]
        return head + "".join(_CONFUSED.get(c, c) for c in tail)
    return cleaned


def check_id(text: str, *, kind: str | None = None) -> str | None:
    """Return what is wrong with an id, or None when it is valid.

    Args:
        text: The id as written (normalised first, see :func:`normalise_id`).
        kind: The kind it must be (``"T"`` or ``"C"``); None: any.
    """
    if not isinstance(text, str):
        return f"not text: {type(text).__name__}"
    t = normalise_id(text)
    if len(t) != BODY_LENGTH + 3 or t[1:2] != "-":
        return (
            f"{text!r} is not in the form <letter>-<{BODY_LENGTH + 1} characters> "
            f"(e.g. {make_id('example', kind=kind or 'T')})"
        )
    k, body, check = t[0], t[2:-1], t[-1]
    if k not in ID_KINDS:
        return f"{text!r} starts with {k!r}; allowed: {sorted(ID_KINDS)}"
    if kind is not None and k != kind:
        return f"{text!r} is a {ID_KINDS[k]} id, not a {ID_KINDS[kind]} id"
    bad = [c for c in body + check if c not in _VALUE]
    if bad:
        return f"{text!r} has {bad[0]!r}, which no id has (allowed: {ALPHABET})"
    if check_character(k, body) != check:
        return f"{text!r} fails its check character: a character is mistyped or two swapped"
    return None


#: How many characters after the dash a mistyped cell id may have and still be read as one
#: (the right count is ``BODY_LENGTH + 1``; one or two too few or too many is a typo).
_CHECKED_SPREAD = 2


def looks_checked(text: object) -> bool:
    """Return True when ``text`` is written as a checked cell id, or close to one.

    Close means, once normalised (:func:`normalise_id`): ``C-`` followed by letters and digits
    only, within two characters of the right length (``C-7K4QM9`` and ``C-7K4QM9XX`` are
    mistyped ids). A valid trial id written where a cell id belongs counts too. Anything
    else (``CC-0042``, ``C-12``, ``C-trial-0001``, a number) is a lab's own label.
    """
    if not isinstance(text, str):
        return False
    t = normalise_id(text)
    n = BODY_LENGTH + 1
    if t.startswith("C-"):
        tail = t[2:]
        return tail.isalnum() and tail.isascii() and abs(len(tail) - n) <= _CHECKED_SPREAD
    return t.startswith("T-") and is_valid_id(t, kind="T")


def is_valid_id(text: str, *, kind: str | None = None) -> bool:
    """Return True when ``text`` is a well-formed id whose check character matches."""
    return check_id(text, kind=kind) is None


def _distance(a: str, b: str) -> int:
    """Return the edit distance of two strings, an adjacent swap counting as one edit."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            row[j] = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def suggest_ids(text: str, known: Iterable[str], *, max_distance: int = 2) -> list[str]:
    """Return the known ids closest to a mistyped one (nearest first, at most three).

    Args:
        text: The id as written.
        known: The ids it could have meant.
        max_distance: Ignore ids more edits away than this (a swap of neighbours is one).
    """
    t = normalise_id(text) if isinstance(text, str) else ""
    scored = sorted(
        (d, k) for k in set(known) if (d := _distance(t, normalise_id(k))) <= max_distance
    )
    return [k for _, k in scored[:3]]
