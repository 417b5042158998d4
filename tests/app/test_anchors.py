"""Comment anchors resolved on the server (pycrdt) — made by real Yjs, and by the editor's rule.

Passages move with text inserted before them, grow and shrink with edits inside them, read as
deleted once their text (or paragraph) is gone, may span paragraphs; what the server cannot know
yet is pending, and nothing but a Yjs item position is accepted.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, XmlFragment

from app.services import anchors
from app.services.anchors import Placement, Position, Resolution
from collab.protocol import write_var_string, write_var_uint

SCRIPT = Path(__file__).resolve().parents[1] / "browser" / "anchor_doc.mjs"
KEY = "gouvernance.strategie"


def yjs(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the Yjs side: paragraphs, the anchors of a passage, the document after each step."""
    env = {**os.environ, "SPEC": json.dumps({"key": KEY, **spec})}
    done = subprocess.run(
        ["node", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def doc_of(state: str) -> Doc[Any]:
    doc: Doc[Any] = Doc(skip_gc=True)
    doc.apply_update(base64.b64decode(state))
    return doc


def resolutions(result: dict[str, Any]) -> list[Resolution]:
    pair = (result["anchors"]["start"], result["anchors"]["end"])
    found = []
    for state in result["states"]:
        [one] = anchors.resolve(doc_of(state), KEY, [pair])
        found.append(one)
    return found


def test_a_passage_follows_what_yjs_clients_write() -> None:
    result = yjs(
        {
            "paragraphs": ["Notre stratégie numérique est ambitieuse.", "Et réaliste."],
            "passage": [0, "stratégie numérique"],
            "steps": [
                {"insert": "En 2026, ", "in": 0, "before": "Notre"},  # (a) before it
                {"insert": " territoriale", "in": 0, "before": " numérique"},  # (b) inside
                {"delete": "stratégie ", "in": 0},  # (b) inside, its first word
                # Typed where it now starts: Yjs puts it after the deleted first characters,
                # so inside (the island reads it so too: static/editor/test/anchors.test.js).
                {"insert": "Très ", "in": 0, "before": "territoriale"},
                {"delete": "Très territoriale numérique", "in": 0},  # (c) all of it
            ],
        }
    )
    assert [(r.placement, r.text) for r in resolutions(result)] == [
        (Placement.ATTACHED, "stratégie numérique"),
        (Placement.ATTACHED, "stratégie numérique"),
        (Placement.ATTACHED, "stratégie territoriale numérique"),
        (Placement.ATTACHED, "territoriale numérique"),
        (Placement.ATTACHED, "Très territoriale numérique"),
        (Placement.DELETED, ""),
    ]


def test_a_passage_starting_its_paragraph_survives_losing_its_first_words() -> None:
    # Its first character, deleted, is then before every live one of its text.
    result = yjs(
        {
            "paragraphs": ["Intro.", "Notre stratégie numérique."],
            "passage": [1, "Notre stratégie"],
            "steps": [{"delete": "Notre ", "in": 1}, {"delete": "stratégie", "in": 1}],
        }
    )
    assert [(r.placement, r.text) for r in resolutions(result)] == [
        (Placement.ATTACHED, "Notre stratégie"),
        (Placement.ATTACHED, "stratégie"),
        (Placement.DELETED, ""),
    ]


def test_indexes_are_yjs_utf16_units() -> None:
    result = yjs(
        {
            "paragraphs": ["Élu·es 🎉 déjà là, 🎈 et après."],
            "passage": [0, "déjà là, 🎈"],
            "steps": [{"insert": "🎉🎉 ", "in": 0, "before": "Élu"}],
        }
    )
    assert [r.text for r in resolutions(result)] == ["déjà là, 🎈", "déjà là, 🎈"]


def test_a_deleted_paragraph_deletes_its_passages() -> None:
    result = yjs(
        {
            "paragraphs": ["Premier.", "Le passage commenté.", "Dernier."],
            "passage": [1, "passage"],
            "steps": [{"deleteParagraph": 0}, {"deleteParagraph": 0}],
        }
    )
    assert [r.placement for r in resolutions(result)] == [
        Placement.ATTACHED,
        Placement.ATTACHED,
        Placement.DELETED,
    ]


def test_a_passage_may_span_paragraphs() -> None:
    result = yjs(
        {
            "paragraphs": ["Un long début.", "Le milieu.", "La fin ici."],
            "passage": [0, "début.", 2, "La fin"],
            "steps": [
                {"delete": "début.", "in": 0},
                {"delete": "La fin", "in": 2},
                {"deleteParagraph": 1},
            ],
        }
    )
    assert [(r.placement, r.text) for r in resolutions(result)] == [
        (Placement.ATTACHED, "début.\nLe milieu.\nLa fin"),
        (Placement.ATTACHED, "\nLe milieu.\nLa fin"),
        (Placement.ATTACHED, "\nLe milieu.\n"),  # its middle paragraph still stands
        (Placement.DELETED, ""),
    ]


def test_an_end_before_its_start_in_another_paragraph_is_not_deleted() -> None:
    # Indexes alone would say 9 >= 3: the paragraph each end is in decides.
    result = yjs(
        {"paragraphs": ["Début et suite", "Fin du texte."], "passage": [0, "suite", 1, "Fin"]}
    )
    [found] = resolutions(result)
    assert (found.placement, found.text) == (Placement.ATTACHED, "suite\nFin")


def test_a_character_the_server_has_not_received_is_pending() -> None:
    result = yjs({"paragraphs": ["Tout neuf."], "passage": [0, "neuf"]})
    pair = (result["anchors"]["start"], result["anchors"]["end"])
    empty: Doc[Any] = Doc(skip_gc=True)
    assert anchors.resolve(empty, KEY, [pair]) == [Resolution(Placement.PENDING)]


def test_anchors_of_another_question_do_not_resolve_here() -> None:
    result = yjs({"paragraphs": ["Ailleurs."], "passage": [0, "Ailleurs"]})
    pair = (result["anchors"]["start"], result["anchors"]["end"])
    doc = doc_of(result["states"][0])
    assert anchors.resolve(doc, "autre.question", [pair]) == [Resolution(Placement.DELETED)]


def test_resolving_leaves_the_document_untouched() -> None:
    result = yjs({"paragraphs": ["Un.", "Deux."], "passage": [1, "Deux"]})
    doc = doc_of(result["states"][0])
    before = doc.get_state()
    pair = (result["anchors"]["start"], result["anchors"]["end"])
    assert anchors.resolve(doc, KEY, [pair, pair])[1].text == "Deux"
    assert doc.get_state() == before
    assert (
        str(doc.get(KEY, type=XmlFragment))
        == "<paragraph>Un.</paragraph><paragraph>Deux.</paragraph>"
    )


def test_encoding_is_yjs_own() -> None:
    result = yjs({"paragraphs": ["Texte."], "passage": [0, "ext"]})
    for encoded in result["anchors"].values():
        position = anchors.decode(encoded)
        assert position is not None and position.client == result["client"]
        assert anchors.encode(position) == encoded
    start, end = (anchors.decode(result["anchors"][k]) for k in ("start", "end"))
    assert start is not None and end is not None
    assert (start.assoc, end.assoc) == (0, -1)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "not base64!",
        _b64(b""),
        _b64(b"\x00\x05"),  # truncated
        _b64(b"\x01" + write_var_string("gouvernance.strategie") + b"\x00"),  # a root type
        _b64(b"\x02\x05\x01\x00"),  # a type by id
        _b64(b"\x00\x05\x01\x02"),  # an assoc Yjs never writes
        _b64(b"\x00\x05\x01\x00\x00"),  # trailing bytes
        _b64(b"\x00" + write_var_uint(5) + b"\xff" * 9),  # an endless varUint
        "A" * 80,  # too long to be a position
    ],
)
def test_only_item_positions_are_accepted(encoded: str) -> None:
    assert anchors.decode(encoded) is None
    doc: Doc[Any] = Doc(skip_gc=True)
    good = anchors.encode(Position(5, 1, -1))
    assert anchors.resolve(doc, KEY, [(encoded, good)]) == [Resolution(Placement.DELETED)]


PARITY = Path(__file__).with_name("anchor_parity.mjs")
EDITOR = Path(__file__).resolve().parents[2] / "static" / "editor"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_server_reads_every_passage_as_the_editor_island_does(seed: int) -> None:
    """Random documents (accents, emoji, several paragraphs), passages and edits (insertions,
    deletions, paragraphs added and removed): the island's own code (static/editor/src/anchors.js)
    and the server agree on every passage, attached or deleted, and on its text."""
    done = subprocess.run(
        ["node", "--input-type=module", "-e", PARITY.read_text(encoding="utf-8")],
        cwd=EDITOR,
        env={**os.environ, "SEED": str(seed), "CASES": "150"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    cases = json.loads(done.stdout)
    island = {"attached": Placement.ATTACHED, "deleted": Placement.DELETED}
    seen = set()
    for number, case in enumerate(cases):
        pair = (case["anchors"]["start"], case["anchors"]["end"])
        [found] = anchors.resolve(doc_of(case["update"]), "q", [pair])
        expected = Resolution(island[case["state"]], case["text"])
        assert found == expected, f"case {number}: {case}"
        seen.add(found.placement)
    assert seen == {Placement.ATTACHED, Placement.DELETED}  # both kinds were exercised
