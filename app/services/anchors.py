"""Where the passage of a comment thread is now: Yjs relative positions resolved with pycrdt.

A passage of a rich-text answer is anchored by two Yjs relative positions, made in the browser
(`static/editor/src/anchors.js`) and encoded by `Y.encodeRelativePosition`, base64 here. The
start sticks to the passage's first character (assoc 0), the end to its last one (assoc -1):
both name a character by its item id, so they follow the text however it is edited around or
inside the passage, by anyone.

pycrdt decodes such positions (`StickyIndex.decode`) and resolves them by item id even inside
the XmlTexts of a y-prosemirror XmlFragment (checked: it has no `sticky_index` for XmlText, but
decoding works), giving the index within the XmlText that holds the character. It does not say
*which* XmlText, and a passage may span paragraphs (each paragraph's text is one XmlText; hard
breaks split them). So `resolve` probes, on a throw-away copy of the document: it inserts one
character at the start of each live XmlText of the question, in document order, and sees whose
index moves. An end that no live XmlText of the question holds went with its paragraph (or
belongs to another question: refused when a thread is created).

The rule, the same in the island (`anchors.js`, `resolvePassage`): a passage is *attached* when
both ends are held by live text of its question and there is live text between them, counted
in document order; otherwise it was *deleted* (« passage supprimé »: the thread stays, with its
quote, and can be re-attached). A position naming a character this document does not have yet
is *pending* (an edit the server has not stored yet); asking pycrdt to resolve it would panic.

Indexes are Yjs' own, in UTF-16 code units (pycrdt returns them so for positions made by Yjs).
Formatting a passage (bold, a link) keeps its characters; turning its paragraph into a heading
or a list makes y-prosemirror rewrite the block with new characters, so such a passage reads as
deleted and can be re-attached.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pycrdt import Doc, StickyIndex, XmlElement, XmlFragment, XmlText

from collab.manager import new_doc
from collab.protocol import ProtocolError, Reader, write_var_uint

MAX_ENCODED = 64  # characters of base64: an item position is at most ~25 bytes
_ITEM = 0  # Yjs' RelativePosition kinds: 0 item id, 1 root type name, 2 type id
_ASSOC = {0x00: 0, 0x41: -1}  # assoc, a Yjs varInt: 0 (after) or -1 (before)
_SPLIT = "arobase-probe"  # a format only the throw-away copy ever gets


class Placement(StrEnum):
    ATTACHED = "attache"
    DELETED = "supprime"
    PENDING = "en_attente"


@dataclass(frozen=True)
class Position:
    """A Yjs relative position naming a character (an item id) and which side it sticks to."""

    client: int
    clock: int
    assoc: int


@dataclass(frozen=True)
class Resolution:
    placement: Placement
    text: str = ""  # the passage as it reads now, when attached


def decode(encoded: str) -> Position | None:
    """The position, or None when `encoded` is not a Yjs item position (this refuses the root
    and type positions, which never stick to a character, and anything else)."""
    if not encoded or len(encoded) > MAX_ENCODED:
        return None
    try:
        reader = Reader(base64.b64decode(encoded, validate=True))
        if reader.var_uint() != _ITEM:
            return None
        client, clock = reader.var_uint(), reader.var_uint()
        assoc = _ASSOC.get(reader.data[reader.pos]) if reader.pos < len(reader.data) else None
    except (binascii.Error, ProtocolError):
        return None
    if assoc is None or reader.pos + 1 != len(reader.data):
        return None
    return Position(client, clock, assoc)


def encode(position: Position) -> str:
    """What `Y.encodeRelativePosition` gives for an item position, in base64."""
    assoc = next(byte for byte, value in _ASSOC.items() if value == position.assoc)
    data = (
        write_var_uint(_ITEM)
        + write_var_uint(position.client)
        + write_var_uint(position.clock)
        + bytes([assoc])
    )
    return base64.b64encode(data).decode()


def resolve(doc: Doc[Any], key: str, anchors: Sequence[tuple[str, str]]) -> list[Resolution]:
    """Where each (start, end) pair of the question `key` is now in `doc` (left untouched)."""
    if not anchors:
        return []
    known = _state_vector(doc)
    pairs = [(decode(start), decode(end)) for start, end in anchors]
    positions = [p for pair in pairs for p in pair if p is not None and _has(known, p)]
    scratch = new_doc()
    scratch.apply_update(doc.get_update())
    texts = _live_texts(scratch.get(key, type=XmlFragment))
    contents = [_atoms(text) for text in texts]  # read before the probes change the copy
    starts = [0]
    for atoms in contents:
        starts.append(starts[-1] + sum(atom.units for atom in atoms))
    where = dict(zip(positions, _locate(scratch, texts, contents, positions), strict=True))
    results = []
    for start, end in pairs:
        if start is None or end is None:
            results.append(Resolution(Placement.DELETED))
        elif not (_has(known, start) and _has(known, end)):
            results.append(Resolution(Placement.PENDING))
        else:
            results.append(_between(where[start], where[end], contents, starts))
    return results


@dataclass(frozen=True)
class _Atom:
    """One character (or embed) of a text: its Yjs length, and pycrdt's (UTF-8 bytes)."""

    text: str
    units: int
    pycrdt: int


_EMBED = _Atom("\ufffc", 1, 1)  # an embed counts one everywhere; U+FFFC stands for it


def _atoms(text: XmlText) -> list[_Atom]:
    atoms: list[_Atom] = []
    for chunk, _ in text.diff():
        if not isinstance(chunk, str):
            atoms.append(_EMBED)
            continue
        for character in chunk:
            units = 2 if ord(character) > 0xFFFF else 1
            atoms.append(_Atom(character, units, len(character.encode())))
    return atoms


def _between(
    start: tuple[int, int] | None,
    end: tuple[int, int] | None,
    contents: list[list[_Atom]],
    starts: list[int],
) -> Resolution:
    if start is None or end is None:
        return Resolution(Placement.DELETED)
    (first, i), (last, j) = start, end
    if starts[first] + i >= starts[last] + j:
        return Resolution(Placement.DELETED)
    if first == last:
        pieces = [_slice(contents[first], i, j)]
    else:
        middle = ["".join(a.text for a in atoms) for atoms in contents[first + 1 : last]]
        pieces = [_slice(contents[first], i, None), *middle, _slice(contents[last], 0, j)]
    return Resolution(Placement.ATTACHED, "\n".join(pieces))


def _slice(atoms: list[_Atom], start: int, end: int | None) -> str:
    """The characters between two Yjs indexes (a surrogate pair cut in two counts whole)."""
    out, position = [], 0
    for atom in atoms:
        if end is not None and position >= end:
            break
        if position + atom.units > start:
            out.append(atom.text)
        position += atom.units
    return "".join(out)


def _locate(
    doc: Doc[Any], texts: list[XmlText], contents: list[list[_Atom]], positions: list[Position]
) -> list[tuple[int, int] | None]:
    """(number of the live XmlText holding it, its Yjs index there) for each known position,
    or None when no live text of the question holds it.

    The probe is an embed inserted at index 0: unlike text, pycrdt inserts it before deleted
    characters at the start of the text (a position on one of those moves too). Then, pycrdt
    documents count text in UTF-8 bytes, and its sticky indexes add the lengths of the items left
    of the position in those bytes to the offset within the position's own item in Yjs units:
    right for ASCII only. So in each text holding a position, every other character is cut into
    an item of its own (a distinct format on each): what precedes a position within its item is
    then ASCII, and the index a sum of whole characters' bytes, which converts exactly.
    """
    if not positions:
        return []
    stickies = [StickyIndex.from_json(_json(p)) for p in positions]
    found: list[int | None] = [None] * len(positions)
    with doc.transaction() as txn:
        base = [sticky.get_index(txn) for sticky in stickies]
        for number, text in enumerate(texts):
            if all(place is not None for place in found):
                break
            text.insert_embed(0, 0)
            for i, sticky in enumerate(stickies):
                if found[i] is None and sticky.get_index(txn) == base[i] + 1:
                    found[i] = number
        for number in {n for n in found if n is not None}:
            _isolate_wide_characters(texts[number], contents[number])
        return [
            None
            if number is None
            else (number, _yjs_index(contents[number], sticky.get_index(txn) - _EMBED.pycrdt))
            for number, sticky in zip(found, stickies, strict=True)
        ]


def _isolate_wide_characters(text: XmlText, atoms: list[_Atom]) -> None:
    offset = _EMBED.pycrdt  # after the probe
    for number, atom in enumerate(atoms):
        if atom.units != atom.pycrdt:
            text.format(offset, offset + atom.pycrdt, {_SPLIT: number})
        offset += atom.pycrdt


def _yjs_index(atoms: list[_Atom], index: int) -> int:
    """The Yjs index of a sticky index read once wide characters are items of their own: whole
    characters count pycrdt's units, the rest (within the position's own character: an end
    position's one step, or half a surrogate pair) counts Yjs units."""
    done = units = 0
    for atom in atoms:
        if done + atom.pycrdt > index:
            break
        done += atom.pycrdt
        units += atom.units
    return units + index - done


def _json(position: Position) -> dict[str, Any]:
    item = {"client": position.client, "clock": position.clock}
    return {"item": item, "assoc": position.assoc}


def _has(known: dict[int, int], position: Position) -> bool:
    return position.clock < known.get(position.client, 0)


def _state_vector(doc: Doc[Any]) -> dict[int, int]:
    reader = Reader(doc.get_state())
    return {reader.var_uint(): reader.var_uint() for _ in range(reader.var_uint())}


def _live_texts(node: XmlFragment | XmlElement) -> list[XmlText]:
    texts: list[XmlText] = []
    for child in node.children:
        if isinstance(child, XmlText):
            texts.append(child)
        elif isinstance(child, XmlElement):
            texts.extend(_live_texts(child))
    return texts
