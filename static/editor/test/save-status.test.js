// The save status' rules, on a real Y.Doc with hand-fed durable state vectors (run: npm test).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { SaveStatus, SETTLE_MS } from '../src/save-status.js'

function setup () {
  const doc = new Y.Doc({ gc: false })
  const clock = { t: 0 }
  const status = new SaveStatus(null, doc, () => clock.t)
  doc.on('update', (_u, _o, _d, tr) => { if (tr.local) status.localChange() })
  const text = doc.getText('t')
  // What the server would acknowledge right now (another client's entry included).
  const durable = () => new Map([[doc.clientID, Y.getState(doc.store, doc.clientID)], [42, 7]])
  status.sync()
  // Every acknowledgement in these tests comes after a pause, unless said otherwise.
  const ack = status.durable.bind(status)
  status.durable = (sv) => { clock.t += SETTLE_MS; ack(sv) }
  return { status, text, durable, clock, ack }
}

test('nothing is claimed before an edit, and an insertion is saved only when acknowledged', () => {
  const { status, text, durable } = setup()
  assert.equal(status.text(), 'Connecté')
  text.insert(0, 'abc')
  assert.equal(status.text(), 'Enregistrement…')
  status.durable(new Map([[42, 7]]))
  assert.equal(status.text(), 'Enregistrement…', 'a vector without our entry proves nothing')
  status.durable(durable())
  assert.equal(status.text(), 'Enregistré')
  status.durable(new Map([[42, 1]]))
  assert.equal(status.text(), 'Enregistré', 'an older vector never goes backwards')
})

test('a deletion with nothing else pending is settled by the next acknowledgement', () => {
  const { status, text, durable } = setup()
  text.insert(0, 'abc')
  status.durable(durable())
  text.delete(0, 1)
  assert.equal(status.text(), 'Enregistrement…')
  status.durable(durable())
  assert.equal(status.text(), 'Enregistré')
})

test('a deletion behind an unacknowledged insertion waits for the acknowledgement after it', () => {
  const { status, text, durable } = setup()
  text.insert(0, 'abc')
  const ofInsertion = durable()
  text.delete(0, 1)
  status.durable(ofInsertion) // may be the commit before the deletion arrived
  assert.equal(status.text(), 'Enregistrement…')
  status.durable(ofInsertion)
  assert.equal(status.text(), 'Enregistré')
})

test('an insertion made after a deletion proves it once durable', () => {
  const { status, text, durable } = setup()
  text.insert(0, 'abc')
  text.delete(0, 1)
  text.insert(0, 'z')
  status.durable(durable())
  assert.equal(status.text(), 'Enregistré')
})

test('offline, then the first acknowledgement on a new connection settles everything', () => {
  const { status, text, durable } = setup()
  status.offline()
  text.insert(0, 'abc')
  text.delete(0, 1)
  assert.match(status.text(), /^Hors ligne/)
  status.newConnection()
  status.sync()
  assert.equal(status.text(), 'Enregistrement…')
  status.durable(durable())
  assert.equal(status.text(), 'Enregistré')
})

test('read-only says so, and says when edits were refused', () => {
  const { status, text } = setup()
  text.insert(0, 'refusé')
  status.setReadOnly()
  assert.match(status.text(), /^Lecture seule — vos dernières modifications/)
})

test('« Enregistré » waits for a pause in typing, never for less than the server', () => {
  const { status, text, durable, clock, ack } = setup()
  text.insert(0, 'a')
  ack(durable()) // acknowledged at once, while typing goes on
  assert.equal(status.text(), 'Enregistrement…')
  clock.t += SETTLE_MS
  assert.equal(status.text(), 'Enregistré')
  text.insert(0, 'b')
  clock.t += 10 * SETTLE_MS
  assert.equal(status.text(), 'Enregistrement…', 'a pause alone proves nothing')
})
