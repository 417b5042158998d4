// Anchors of comment threads: Yjs relative positions around a passage of a rich-text answer.
// Pure functions on Yjs types (no DOM, no ProseMirror view): tested with node (test/anchors.test.js).
//
// A passage's start sticks to its first character (assoc 0) and its end to its last character
// (assoc -1): both name a character by its item id, so the passage follows the text as anyone edits
// around or inside it. Anchors travel as base64 of `Y.encodeRelativePosition` (the server decodes
// them with pycrdt: app/services/anchors.py). A passage is *attached* when both characters' texts
// are still live in the question's fragment and there is live text between them, in document order;
// *deleted* otherwise (its thread says « passage supprimé »); *pending* while a position names a
// character this client does not have yet. The server applies exactly the same rule.
import * as Y from 'yjs'

export const ATTACHED = 'attached'
export const DELETED = 'deleted'
export const PENDING = 'pending'

/** @param {Uint8Array} bytes */
export function toBase64 (bytes) {
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary)
}

/** @param {string} text @return {Uint8Array | null} */
export function fromBase64 (text) {
  try {
    const binary = atob(text)
    const bytes = new Uint8Array(binary.length)
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
    return bytes
  } catch {
    return null
  }
}

/** @param {Y.RelativePosition} position */
export function encodeAnchor (position) {
  return toBase64(Y.encodeRelativePosition(position))
}

/** @return {Y.RelativePosition | null} null for anything but a position naming a character */
export function decodeAnchor (text) {
  const bytes = typeof text === 'string' && text !== '' ? fromBase64(text) : null
  if (!bytes) return null
  try {
    const position = Y.decodeRelativePosition(bytes)
    return position.item ? position : null
  } catch {
    return null
  }
}

/**
 * The anchors of the passage from `first` (the position of its first character) to `after` (the
 * position just after its last one), each `{ type: Y.XmlText, index }`.
 * @return {{ start: string, end: string }}
 */
export function anchorsAround (first, after) {
  return {
    start: encodeAnchor(Y.createRelativePositionFromTypeIndex(first.type, first.index, 0)),
    end: encodeAnchor(Y.createRelativePositionFromTypeIndex(after.type, after.index, -1))
  }
}

/** The live XmlTexts under `node`, in document order. */
export function liveTexts (node, out = []) {
  for (const child of node.toArray()) {
    if (child instanceof Y.XmlText) out.push(child)
    else if (child instanceof Y.XmlElement) liveTexts(child, out)
  }
  return out
}

/**
 * Where the passage between two anchors is now.
 * @return {{ state: string, from?: { type: Y.XmlText, index: number }, to?: { type: Y.XmlText, index: number }, text?: string }}
 */
export function resolvePassage (ydoc, fragment, startText, endText) {
  const start = decodeAnchor(startText)
  const end = decodeAnchor(endText)
  if (!start || !end) return { state: DELETED }
  const from = Y.createAbsolutePositionFromRelativePosition(start, ydoc)
  const to = Y.createAbsolutePositionFromRelativePosition(end, ydoc)
  if (!from || !to) return { state: PENDING }
  const texts = liveTexts(fragment)
  const first = texts.indexOf(from.type)
  const last = texts.indexOf(to.type)
  if (first < 0 || last < 0) return { state: DELETED }
  const offset = (n) => texts.slice(0, n).reduce((sum, text) => sum + text.length, 0)
  if (offset(first) + from.index >= offset(last) + to.index) return { state: DELETED }
  const pieces = first === last
    ? [plain(texts[first]).slice(from.index, to.index)]
    : [plain(texts[first]).slice(from.index), ...texts.slice(first + 1, last).map(plain), plain(texts[last]).slice(0, to.index)]
  return { state: ATTACHED, from, to, text: pieces.join('\n') }
}

function plain (xmlText) {
  return xmlText.toDelta().map((op) => typeof op.insert === 'string' ? op.insert : '\ufffc').join('')
}

/**
 * The ProseMirror position of `index` in the live `type` under `fragment` (the same walk as
 * y-prosemirror's relativePositionToAbsolutePosition, without its drag-and-drop heuristic that
 * refuses positions at the very start of the document). `mapping` maps Yjs elements to their
 * ProseMirror nodes (y-prosemirror's binding.mapping); null when an element is not mapped yet.
 */
export function pmPosition (fragment, mapping, type, index) {
  let pos = type instanceof Y.XmlText ? index : 0
  let current = type
  while (current !== fragment) {
    const parent = current._item.parent
    pos += 1 // the opening of the parent (the fragment has none: taken back below)
    for (let item = parent._start; item !== null; item = item.right) {
      const child = item.content.type
      if (child === current) break
      if (item.deleted) continue
      if (child instanceof Y.XmlText) {
        pos += child.length
      } else {
        const node = mapping.get(child)
        if (!node) return null
        pos += node.nodeSize
      }
    }
    current = parent
  }
  return pos - 1
}
