"""Rich text from Y documents to HTML and plain text, and what the sanitiser keeps out."""

from __future__ import annotations

from pycrdt import Doc, XmlElement, XmlFragment, XmlText

from app.services import richtext


def fragment() -> XmlFragment:
    return Doc().get("q", type=XmlFragment)


def test_blocks_marks_and_lists() -> None:
    f = fragment()
    richtext.append_blocks(
        f,
        [
            {"type": "titre", "texte": "Bilan"},
            {"type": "paragraphe", "texte": "Deux "},
            {"type": "liste", "elements": ["un", "deux"]},
        ],
    )
    text = f.children[1].children[0]
    text.insert(5, "services", {"bold": {}, "italic": {}})
    ordered = XmlElement(
        "orderedList",
        {},
        [
            XmlElement("listItem", {}, [XmlElement("paragraph", {}, [XmlText("premier")])]),
        ],
    )
    f.children.append(ordered)
    html = richtext.to_html(f)
    assert html.startswith("<h3>Bilan</h3><p>Deux <em><strong>services</strong></em></p>")
    assert "<ul><li><p>un</p></li><li><p>deux</p></li></ul>" in html
    assert "<ol><li><p>premier</p></li></ol>" in html
    assert richtext.to_text(f) == "Bilan\nDeux services\n- un\n- deux\n1. premier"


def test_links_keep_only_safe_schemes() -> None:
    f = fragment()
    paragraph = f.children.append(XmlElement("paragraph", {}, [XmlText("")]))
    text = paragraph.children[0]
    text.insert(0, "ok", {"link": {"href": "https://exemple.fr/?a=1&b=2"}})
    text.insert(2, "ko", {"link": {"href": "javascript:alert(1)"}})
    html = richtext.to_html(f)
    assert (
        '<a href="https://exemple.fr/?a=1&amp;b=2" rel="noopener noreferrer nofollow">ok</a>'
        in html
    )
    assert "javascript" not in html


def test_unknown_elements_and_markup_in_text_are_inert() -> None:
    f = fragment()
    f.children.append(XmlElement("script", {"src": "x"}, [XmlText("alert(1)")]))
    f.children.append(XmlElement("paragraph", {"onclick": "x"}, [XmlText("<img src=x onerror=y>")]))
    html = richtext.to_html(f)
    assert html == "alert(1)<p>&lt;img src=x onerror=y&gt;</p>"


def test_heading_levels_are_clamped_below_the_question_title() -> None:
    f = fragment()
    f.children.append(XmlElement("heading", {"level": 1}, [XmlText("a")]))
    f.children.append(XmlElement("heading", {"level": 9}, [XmlText("b")]))
    assert richtext.to_html(f) == "<h3>a</h3><h5>b</h5>"


def test_hard_breaks() -> None:
    f = fragment()
    f.children.append(
        XmlElement("paragraph", {}, [XmlText("a"), XmlElement("hardBreak", {}, []), XmlText("b")])
    )
    assert richtext.to_html(f) == "<p>a<br>b</p>"
    assert richtext.to_text(f) == "a\nb"
