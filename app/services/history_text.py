"""Plain text for history: how an answer reads, and how two readings differ.

A question's answer is compared as the text a reader sees: rich text is its text blocks
(paragraphs, headings, list items) joined by "\\n"; other answers are their French rendering
(« oui », « 12,5 », « 03/02/2031 », choice labels). `align` and `changes` find what changed
between two readings, shifted to word and sentence boundaries where the change is ambiguous.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import date
from difflib import SequenceMatcher
from itertools import accumulate
from typing import Any

from pycrdt import XmlElement, XmlFragment, XmlText

from app.models import Question, QuestionType
from app.services.answers import french_number

_TEXTBLOCKS = frozenset({"paragraph", "heading", "codeBlock"})
# A line break, or a word or a sign with the spaces before it.
_WORDS = re.compile(r"\n|[^\S\n]*\w+|[^\S\n]*[^\w\s]|[^\S\n]+")
_PIECES = re.compile(r"\w+|\s+|[^\w\s]")  # words, spaces and signs apart


# Plain text ----------------------------------------------------------------------------------
def _inline(node: Any) -> str:
    if isinstance(node, XmlText):
        return "".join(chunk for chunk, _ in node.diff() if isinstance(chunk, str))
    if isinstance(node, XmlElement):
        return "\n" if node.tag == "hardBreak" else "".join(_inline(c) for c in node.children)
    return ""


def block_lines(node: Any) -> list[str]:
    """The lines of one block: a text block is one line, a list or a quote holds several."""
    if isinstance(node, XmlText):
        return [_inline(node)]
    if not isinstance(node, XmlElement):
        return []
    children = list(node.children)
    if node.tag in _TEXTBLOCKS or any(isinstance(child, XmlText) for child in children):
        return ["".join(_inline(child) for child in children)]
    return [line for child in children for line in block_lines(child)]


def join_lines(blocks: Iterable[list[str]]) -> str:
    return "\n".join(line for lines in blocks for line in lines if line)


def rich_text(fragment: XmlFragment) -> str:
    with fragment.doc.transaction():
        return join_lines(block_lines(child) for child in fragment.children)


def render(question: Question, value: Any) -> str:
    """A short answer as a French reader reads it ('' when unanswered)."""
    if value is None or value == "" or value == []:
        return ""
    qtype = question.type
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, int | float):
        number = int(value) if isinstance(value, float) and value.is_integer() else value
        unit = question.unite if qtype == QuestionType.indicateur else None
        return f"{french_number(number)} {unit or ''}".strip()
    if qtype == QuestionType.date and isinstance(value, str):
        try:
            return date.fromisoformat(value).strftime("%d/%m/%Y")
        except ValueError:
            return value
    if qtype in (QuestionType.choix_unique, QuestionType.choix_multiple):
        values = value if isinstance(value, list) else [value]
        return ", ".join(question.choice_label(v) for v in values)
    if isinstance(value, list):
        return ", ".join(filter(None, (_generic(v) for v in value)))
    return _generic(value)


def _generic(value: Any) -> str:
    if isinstance(value, dict):
        for name in ("libelle", "nom", "name", "titre", "url"):
            if value.get(name):
                return str(value[name])
        return ""
    return "" if value is None else str(value)


def is_rich(question: Question) -> bool:
    return question.type == QuestionType.texte


# Comparing texts -----------------------------------------------------------------------------
def _prefix(a: str, b: str) -> int:
    """Length of the common prefix, by halving slices (C comparisons, not a Python loop)."""
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    low, high = 0, n  # a[:low] == b[:low] and a[:high] != b[:high]
    while high - low > 1:
        middle = (low + high) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle
    return low


def _suffix(a: str, b: str, limit: int) -> int:
    """Length of the common suffix, at most `limit`."""
    n = min(limit, len(a), len(b))
    if n <= 0:
        return 0
    if a[len(a) - n :] == b[len(b) - n :]:
        return n
    low, high = 0, n
    while high - low > 1:
        middle = (low + high) // 2
        if a[len(a) - middle : len(a) - low] == b[len(b) - middle : len(b) - low]:
            low = middle
        else:
            high = middle
    return low


def _slide(text: str, start: int, end: int, low: int, high: int) -> int:
    """Where an insertion (or deletion) `text[start:end]` most likely happened, between `low`
    and `high`: it may slide while it ends as it starts (typing " Rita!" just before " Rose?"
    also reads as "ita! R" typed after " R"). Take the place whose edges fall best on words
    and sentences (diff-match-patch's semantic cleanup), the rightmost of equals."""
    while end < high and text[start] == text[end]:
        start, end = start + 1, end + 1
    best, best_score = start, _edge(text, start) + _edge(text, end)
    while start > low and text[start - 1] == text[end - 1]:
        start, end = start - 1, end - 1
        score = _edge(text, start) + _edge(text, end)
        if score > best_score:
            best, best_score = start, score
    return best


def _edge(text: str, at: int) -> int:
    """How good a place for an edit's edge the gap before `text[at]` is."""
    if at <= 0 or at >= len(text):
        return 6
    left, right = text[at - 1], text[at]
    if left == "\n":
        return 5  # a line's start: a paragraph and its line break go together, as "text\n"
    if right == "\n":
        return 4
    if not left.isalnum() and not left.isspace() and right.isspace():
        return 3  # the end of a sentence
    if left.isspace() or right.isspace():
        return 2
    return 1 if not left.isalnum() or not right.isalnum() else 0


Opcode = tuple[str, int, int, int, int]


def align(a: str, b: str, *, pieces: bool = False) -> Iterator[Opcode]:
    """difflib opcodes turning `a` into `b`, in characters: paragraphs are matched first, then
    the words (with the spaces before them) of the paragraphs that changed, so a long text costs
    what changed. With `pieces`, words replaced together are matched again as words, spaces and
    signs apart ("un espace" → "deux espaces": "un" → "deux", then "s" added)."""
    lines_a, lines_b = a.splitlines(keepends=True), b.splitlines(keepends=True)
    for tag, a1, a2, b1, b2 in _matched(lines_a, lines_b, 0, 0, autojunk=False):
        if tag == "equal" or a1 == a2 or b1 == b2:
            yield tag, a1, a2, b1, b2
            continue
        # Most changed paragraphs hold one edit: trim what they share before matching words.
        x, y = a[a1:a2], b[b1:b2]
        p = _prefix(x, y)
        q = len(x) - _suffix(x, y, min(len(x), len(y)) - p)
        if not pieces:  # whole words only: "chat" → "chats" is a word replaced
            while p > 0 and not (_token_starts(x, p) and _token_starts(y, p)):
                p -= 1
            while q < len(x) and not (
                _token_starts(x, q) and _token_starts(y, q + len(y) - len(x))
            ):
                q += 1
        s = len(x) - q
        if p:
            yield "equal", a1, a1 + p, b1, b1 + p
        x1, x2, y1, y2 = a1 + p, a2 - s, b1 + p, b2 - s
        if x1 == x2 or y1 == y2:
            yield ("insert" if x1 == x2 else "delete"), x1, x2, y1, y2
        else:
            for op, i1, i2, j1, j2 in _matched(
                _WORDS.findall(a[x1:x2]), _WORDS.findall(b[y1:y2]), x1, y1
            ):
                if pieces and op == "replace":
                    parts_a, parts_b = _PIECES.findall(a[i1:i2]), _PIECES.findall(b[j1:j2])
                    if len(parts_a) > 1 or len(parts_b) > 1:
                        yield from _matched(parts_a, parts_b, i1, j1)
                        continue
                yield op, i1, i2, j1, j2
        if s:
            yield "equal", a2 - s, a2, b2 - s, b2


def _token_starts(text: str, at: int) -> bool:
    """Does a `_WORDS` token start at `at`?"""
    if at <= 0 or at >= len(text):
        return True
    before, here = text[at - 1], text[at]
    if "\n" in (before, here):
        return True
    if here.isspace() or before.isspace():
        return here.isspace() and not before.isspace()
    return not ((here.isalnum() or here == "_") and (before.isalnum() or before == "_"))


def _matched(
    tokens_a: list[str], tokens_b: list[str], at_a: int, at_b: int, *, autojunk: bool = True
) -> Iterator[Opcode]:
    """Opcodes between two token lists, in characters from `at_a` and `at_b`."""
    offsets_a = list(accumulate(map(len, tokens_a), initial=at_a))
    offsets_b = list(accumulate(map(len, tokens_b), initial=at_b))
    matcher = SequenceMatcher(None, tokens_a, tokens_b, autojunk=autojunk)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        yield tag, offsets_a[i1], offsets_a[i2], offsets_b[j1], offsets_b[j2]


Span = tuple[int, int, int, int]


def changes(a: str, b: str) -> list[Span]:
    """Where `b` differs from `a`: spans (i1, i2, j1, j2), `a[i1:i2]` became `b[j1:j2]`, in order.

    One edit is found by trimming what both share at each end; a replacement, or edits in several
    places (a squashed row), are aligned by paragraphs and words, each change then narrowed to
    the characters that differ. Insertions and deletions then slide to their likeliest place,
    so that one edit is found where it is whether its row was squashed with others or not."""
    p = _prefix(a, b)
    s = _suffix(a, b, min(len(a), len(b)) - p)
    end_a, end_b = len(a) - s, len(b) - s
    if p == end_a and p == end_b:
        return []
    if p in (end_a, end_b):
        spans = [(p, end_a, p, end_b)]
    else:
        spans = []
        for tag, i1, i2, j1, j2 in align(a[p:end_a], b[p:end_b], pieces=True):
            if tag == "equal":
                continue
            x, y = a[p + i1 : p + i2], b[p + j1 : p + j2]
            q = _prefix(x, y)
            r = _suffix(x, y, min(len(x), len(y)) - q)
            spans.append((p + i1 + q, p + i2 - r, p + j1 + q, p + j2 - r))
    out: list[Span] = []
    for index, (i1, i2, j1, j2) in enumerate(spans):
        if (i1 == i2) != (j1 == j2):
            after = spans[index + 1] if index + 1 < len(spans) else None
            if i1 == i2:  # an insertion, placed in `b`
                low, high = out[-1][3] if out else 0, after[2] if after else len(b)
                shift = _slide(b, j1, j2, low, high) - j1
            else:
                low, high = out[-1][1] if out else 0, after[0] if after else len(a)
                shift = _slide(a, i1, i2, low, high) - i1
            i1, i2, j1, j2 = i1 + shift, i2 + shift, j1 + shift, j2 + shift
        out.append((i1, i2, j1, j2))
    return out
