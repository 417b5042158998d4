"""Rich-text answers: y-prosemirror XmlFragments ↔ sanitised HTML and plain text.

The editor's schema is Tiptap's StarterKit subset we allow: paragraph, heading (levels 2–4),
bulletList, orderedList, listItem, hardBreak, and the marks bold, italic and link. Anything
else found in a document is rendered as its text only. The HTML is built with escaping and then
passed through nh3 (an allow-list sanitiser), so a crafted document cannot inject markup.
"""

from __future__ import annotations

from html import escape
from typing import Any

import nh3
from pycrdt import XmlElement, XmlFragment, XmlText

_BLOCKS = {
    "paragraph": "p",
    "bulletList": "ul",
    "orderedList": "ol",
    "listItem": "li",
    "blockquote": "blockquote",
}
_MARKS = (("bold", "strong"), ("italic", "em"))
_ALLOWED_TAGS = {"p", "ul", "ol", "li", "strong", "em", "a", "br", "h3", "h4", "h5", "blockquote"}


def to_html(fragment: XmlFragment) -> str:
    html = "".join(_node_html(child) for child in fragment.children)
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes={"a": {"href"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


def to_text(fragment: XmlFragment) -> str:
    """Plain text: one line per block, list items prefixed, marks dropped."""
    lines: list[str] = []
    for child in fragment.children:
        _node_text(child, lines, prefix="")
    return "\n".join(line for line in lines if line.strip())


def _node_html(node: Any) -> str:
    if isinstance(node, XmlText):
        return _text_html(node)
    if not isinstance(node, XmlElement):
        return ""
    inner = "".join(_node_html(child) for child in node.children)
    tag = node.tag
    if tag == "heading":
        # Questions are <h2>: answer headings start at <h3>.
        level = min(max(int(node.attributes.get("level") or 2), 2), 4) + 1
        return f"<h{level}>{inner}</h{level}>"
    if tag == "hardBreak":
        return "<br>"
    html_tag = _BLOCKS.get(tag or "")
    return f"<{html_tag}>{inner}</{html_tag}>" if html_tag else inner


def _text_html(node: XmlText) -> str:
    out = []
    for text, attrs in node.diff():
        piece = escape(str(text)).replace("\n", "<br>")
        attrs = attrs or {}
        for mark, tag in _MARKS:
            if mark in attrs:
                piece = f"<{tag}>{piece}</{tag}>"
        link = attrs.get("link")
        if isinstance(link, dict) and link.get("href"):
            piece = f'<a href="{escape(str(link["href"]))}">{piece}</a>'
        out.append(piece)
    return "".join(out)


def _plain(node: XmlText) -> str:
    return "".join(str(text) for text, _ in node.diff())


def _inline_text(node: XmlElement) -> str:
    parts = []
    for child in node.children:
        if isinstance(child, XmlText):
            parts.append(_plain(child))
        elif isinstance(child, XmlElement):
            parts.append("\n" if child.tag == "hardBreak" else _inline_text(child))
    return "".join(parts)


def _node_text(node: Any, lines: list[str], prefix: str) -> None:
    if isinstance(node, XmlText):
        lines.append(prefix + _plain(node))
    elif not isinstance(node, XmlElement):
        return
    elif node.tag in ("bulletList", "orderedList"):
        for index, item in enumerate(node.children, start=1):
            marker = "- " if node.tag == "bulletList" else f"{index}. "
            _node_text(item, lines, prefix + marker)
    elif node.tag in ("listItem", "blockquote"):
        for index, child in enumerate(node.children):
            _node_text(child, lines, prefix if index == 0 else " " * len(prefix))
    else:
        lines.append(prefix + _inline_text(node))


def append_blocks(fragment: XmlFragment, blocks: list[dict[str, Any]]) -> None:
    """Write simple blocks (`titre`, `paragraphe`, `liste`) — used by the demo data and tests."""
    for block in blocks:
        kind = block["type"]
        if kind == "titre":
            # Tiptap's heading level is a number; pycrdt's hint says str but stores any value.
            heading = XmlElement("heading", {"level": 2}, [XmlText(block["texte"])])  # type: ignore[arg-type]
            fragment.children.append(heading)
        elif kind == "paragraphe":
            fragment.children.append(XmlElement("paragraph", {}, [XmlText(block["texte"])]))
        elif kind == "liste":
            items = [
                XmlElement("listItem", {}, [XmlElement("paragraph", {}, [XmlText(text)])])
                for text in block["elements"]
            ]
            fragment.children.append(XmlElement("bulletList", {}, items))
        else:
            raise ValueError(f"unknown block type {kind!r}")
