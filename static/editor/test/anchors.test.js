// Anchors of comment threads on real Y.Docs (run: npm test): they follow edits made before, inside
// and around the passage, by this client or a concurrent one, and a deleted passage reads deleted.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import {
  ATTACHED, DELETED, PENDING, anchorsAround, decodeAnchor, encodeAnchor, fromBase64, liveTexts,
  pmPosition, resolvePassage, toBase64
} from '../src/anchors.js'

const KEY = 'gouvernance.strategie'

function docWith (...paragraphs) {
  const doc = new Y.Doc({ gc: false })
  const fragment = doc.getXmlFragment(KEY)
  fragment.insert(0, paragraphs.map((text) => {
    const p = new Y.XmlElement('paragraph')
    p.insert(0, [new Y.XmlText(text)])
    return p
  }))
  return { doc, fragment, text: (n) => liveTexts(fragment)[n] }
}

/** Anchors around `passage`, the first time it occurs in paragraph `n`. */
function around (world, passage, n = 0, m = n, endPassage = passage) {
  const first = world.text(n)
  const last = world.text(m)
  const start = first.toString().indexOf(passage)
  const end = last.toString().indexOf(endPassage) + endPassage.length
  return anchorsAround({ type: first, index: start }, { type: last, index: end })
}

function sync (a, b) {
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a, Y.encodeStateVector(b)))
  Y.applyUpdate(a, Y.encodeStateAsUpdate(b, Y.encodeStateVector(a)))
}

test('base64 round trip', () => {
  const bytes = new Uint8Array([0, 1, 127, 128, 200, 255])
  assert.deepEqual(fromBase64(toBase64(bytes)), bytes)
  assert.equal(fromBase64('%%%'), null)
})

test('only positions naming a character decode', () => {
  const world = docWith('Bonjour')
  const { start } = around(world, 'jour')
  assert.equal(encodeAnchor(decodeAnchor(start)), start)
  const onType = encodeAnchor(Y.createRelativePositionFromTypeIndex(world.fragment, 1, 0)) // the end: no item
  for (const bad of [onType, '', 'pas du base64 !', toBase64(new Uint8Array([9, 9])), null]) {
    assert.equal(decodeAnchor(bad), null, String(bad))
  }
})

test('the passage follows insertions before it and edits inside it', () => {
  const world = docWith('Notre stratégie numérique est ambitieuse.')
  const { start, end } = around(world, 'stratégie numérique')
  const read = () => resolvePassage(world.doc, world.fragment, start, end)
  assert.equal(read().state, ATTACHED)
  assert.equal(read().text, 'stratégie numérique')

  world.text(0).insert(0, 'En 2026, ')
  assert.equal(read().text, 'stratégie numérique')
  assert.equal(read().from.index, 'En 2026, Notre '.length)

  const inside = world.text(0).toString().indexOf(' numérique')
  world.text(0).insert(inside, ' territoriale')
  assert.equal(read().text, 'stratégie territoriale numérique')

  world.text(0).delete(world.text(0).toString().indexOf('territoriale'), 'territoriale '.length)
  assert.equal(read().text, 'stratégie numérique')

  // Typed just outside either end: not in the passage.
  const after = world.text(0).toString().indexOf(' est')
  world.text(0).insert(after, '!')
  assert.equal(read().text, 'stratégie numérique')
})

test('a passage starting its paragraph survives losing its first words', () => {
  const world = docWith('Intro.', 'Notre stratégie numérique.')
  const { start, end } = around(world, 'Notre stratégie', 1)
  world.text(1).delete(0, 'Notre '.length)
  assert.equal(resolvePassage(world.doc, world.fragment, start, end).text, 'stratégie')
  // Typed where it now starts, after its deleted first characters: inside (the server agrees).
  world.text(1).insert(0, 'Très ')
  assert.equal(resolvePassage(world.doc, world.fragment, start, end).text, 'Très stratégie')
})

test('a deleted passage, or its paragraph, reads deleted', () => {
  const world = docWith('Avant. Le passage commenté. Après.', 'Second paragraphe.')
  const { start, end } = around(world, 'passage commenté')
  const text = world.text(0)
  text.delete(text.toString().indexOf('passage'), 'passage commenté'.length)
  assert.equal(resolvePassage(world.doc, world.fragment, start, end).state, DELETED)

  const other = around(world, 'paragraphe', 1)
  world.fragment.delete(1, 1)
  assert.equal(resolvePassage(world.doc, world.fragment, other.start, other.end).state, DELETED)
})

test('a passage may span paragraphs; deleting through them deletes it', () => {
  const world = docWith('Premier paragraphe long.', 'Deuxième.', 'Troisième fin.')
  const { start, end } = around(world, 'long.', 0, 2, 'Troisième')
  assert.deepEqual(resolvePassage(world.doc, world.fragment, start, end).text, 'long.\nDeuxième.\nTroisième')
  // Its two ends only: the middle paragraph keeps it alive.
  world.text(0).delete(world.text(0).toString().indexOf('long.'), 5)
  world.text(2).delete(0, 'Troisième'.length)
  assert.equal(resolvePassage(world.doc, world.fragment, start, end).text, '\nDeuxième.\n')
  world.fragment.delete(1, 1)
  assert.equal(resolvePassage(world.doc, world.fragment, start, end).state, DELETED)
})

test('anchors follow concurrent edits from another client', () => {
  const a = docWith('Le conseil municipal a voté le budget.')
  const b = { doc: new Y.Doc({ gc: false }) }
  sync(a.doc, b.doc)
  b.fragment = b.doc.getXmlFragment(KEY)
  const { start, end } = around(a, 'conseil municipal')
  // b does not know the anchored characters yet? It does (synced): so the thread resolves there too.
  assert.equal(resolvePassage(b.doc, b.fragment, start, end).text, 'conseil municipal')

  // Concurrently: a inserts before the passage, b inside it.
  a.text(0).insert(0, 'Hier, ')
  const bText = liveTexts(b.fragment)[0]
  bText.insert(bText.toString().indexOf(' municipal'), ' communautaire')
  sync(a.doc, b.doc)
  for (const side of [a, b]) {
    assert.equal(resolvePassage(side.doc, side.fragment, start, end).text, 'conseil communautaire municipal')
  }
})

test('a position this client has not received yet is pending', () => {
  const writer = docWith('Texte tout neuf.')
  const { start, end } = around(writer, 'tout neuf')
  const reader = new Y.Doc({ gc: false })
  assert.equal(resolvePassage(reader, reader.getXmlFragment(KEY), start, end).state, PENDING)
})

test('ProseMirror positions of a passage', () => {
  const world = docWith('Un.', 'Deux trois.')
  // A mapping as y-prosemirror's: each element's ProseMirror node size.
  const sizes = new Map()
  const size = (element) => 2 + element.toArray().reduce((sum, child) => sum + (child instanceof Y.XmlText ? child.length : size(child)), 0)
  for (const element of world.fragment.toArray()) sizes.set(element, { nodeSize: size(element) })
  const { start, end } = around(world, 'trois', 1)
  const found = resolvePassage(world.doc, world.fragment, start, end)
  // <p>Un.</p> is 5; the second paragraph opens at 5, its text at 6: « trois » is 11–16.
  assert.equal(pmPosition(world.fragment, sizes, found.from.type, found.from.index), 11)
  assert.equal(pmPosition(world.fragment, sizes, found.to.type, found.to.index), 16)
  // The very first character of the document is position 1 (y-prosemirror's own helper refuses it).
  const first = around(world, 'Un')
  const atStart = resolvePassage(world.doc, world.fragment, first.start, first.end)
  assert.equal(pmPosition(world.fragment, sizes, atStart.from.type, atStart.from.index), 1)
})
