// Real Yjs documents and comment anchors for the server's tests (tests/app/test_anchors.py):
// builds paragraphs, anchors a passage as the editor island does (its first character, assoc 0;
// its last character, assoc -1), then applies edits one by one and prints the whole document
// after each. SPEC (JSON): { key, paragraphs: [text], passage: [paragraph, text, lastParagraph?,
// lastText?], steps: [{ insert, in, before } | { delete, in } | { deleteParagraph }] }.
import * as Y from 'yjs'

const spec = JSON.parse(process.env.SPEC)
const doc = new Y.Doc({ gc: false })
const fragment = doc.getXmlFragment(spec.key)
fragment.insert(0, spec.paragraphs.map((text) => {
  const p = new Y.XmlElement('paragraph')
  p.insert(0, [new Y.XmlText(text)])
  return p
}))
const textOf = (n) => fragment.get(n).get(0)
const b64 = (bytes) => Buffer.from(bytes).toString('base64')
const encode = (position) => b64(Y.encodeRelativePosition(position))

const [first, passage, last = first, lastPassage = passage] = spec.passage
const start = textOf(first).toString().indexOf(passage)
const end = textOf(last).toString().indexOf(lastPassage) + lastPassage.length
const anchors = {
  start: encode(Y.createRelativePositionFromTypeIndex(textOf(first), start, 0)),
  end: encode(Y.createRelativePositionFromTypeIndex(textOf(last), end, -1))
}
const states = [b64(Y.encodeStateAsUpdate(doc))]
for (const step of spec.steps || []) {
  if (step.insert !== undefined) {
    const text = textOf(step.in)
    text.insert(text.toString().indexOf(step.before), step.insert)
  } else if (step.delete !== undefined) {
    const text = textOf(step.in)
    text.delete(text.toString().indexOf(step.delete), step.delete.length)
  } else if (step.deleteParagraph !== undefined) {
    fragment.delete(step.deleteParagraph, 1)
  }
  states.push(b64(Y.encodeStateAsUpdate(doc)))
}
console.log(JSON.stringify({ anchors, states, client: doc.clientID }))
