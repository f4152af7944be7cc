"""Chinese substring search on item names through a pg_trgm GIN index (pure part: what is indexed, what is asked).

Why not a trigram index on ``name`` itself: pg_trgm extracts trigrams per *word*, and a Chinese name is one long
word. ``name LIKE '%护照%'`` then yields no trigram at all (two characters, not anchored), so PostgreSQL scans the
table — and two-character searches (护照, 户口, 驾驶) are what civil servants type most.

So the read model indexes ``search_text``: the lower-cased name as its consecutive character pairs, each pair a word
(``户口迁移`` → `` 户口 口迁 迁移 移 ``; the last character once more alone). A query of n ≥ 2 characters becomes
its own pair sequence, and it is a substring of the name exactly when `` <pairs of q> `` is a substring of
``search_text``: every two-character word carries two or three full trigrams, so the GIN index finds candidates for
any query of two or more characters. One character asks for the words starting with it (every character of a name
starts a pair or stands alone at the end). The handler still checks ``name ILIKE '%q%'`` on the candidates, so the
index only narrows and never decides."""

from __future__ import annotations


def search_text(name: str) -> str:
    text = name.lower()
    if not text:
        return " "
    pairs = [text[i:i + 2] for i in range(len(text) - 1)]
    return " " + " ".join([*pairs, text[-1]]) + " "


def search_pattern(query: str) -> str:
    """The LIKE pattern on ``search_text`` for a substring query (LIKE metacharacters escaped)."""
    text = query.lower()
    if len(text) == 1:
        return f"% {escape_like(text)}%"
    return "% " + " ".join(escape_like(text[i:i + 2]) for i in range(len(text) - 1)) + " %"


def name_pattern(query: str) -> str:
    return f"%{escape_like(query)}%"


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
