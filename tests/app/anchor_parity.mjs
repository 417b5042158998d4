// Random documents, passages and edits, read by the editor island's own code (static/editor/src/
// anchors.js): tests/app/test_anchors.py runs this with node from static/editor (so that `yjs` and
// `./src/anchors.js` resolve there) and checks that the server reads every passage the same way.
// Deterministic: CASES cases from SEED.
import * as Y from 'yjs'
import { anchorsAround, liveTexts, resolvePassage } from './src/anchors.js'

let seed = Number(process.env.SEED || 1)
const random = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 }
const pick = (n) => Math.floor(random() * n)
const WORDS = ['le', 'conseil', 'élu·es', 'numérique', 'déjà', 'là', '🎉', 'café', 'ÉCOLE', 'et', 'œuvre', '𝔸rob']
const sentence = () => Array.from({ length: 2 + pick(6) }, () => WORDS[pick(WORDS.length)]).join(' ')
const b64 = (bytes) => Buffer.from(bytes).toString('base64')

const cases = []
for (let c = 0; c < Number(process.env.CASES || 100); c++) {
  const doc = new Y.Doc({ gc: false })
  const fragment = doc.getXmlFragment('q')
  const paragraph = () => {
    const p = new Y.XmlElement('paragraph')
    p.insert(0, [new Y.XmlText(sentence())])
    return p
  }
  fragment.insert(0, Array.from({ length: 1 + pick(4) }, paragraph))
  // A passage: from a character of one text to after a character of the same or a later one.
  const texts = liveTexts(fragment)
  const a = pick(texts.length)
  const b = a + pick(texts.length - a)
  const from = pick(texts[a].length)
  const after = a === b ? from + 1 + pick(texts[a].length - from) : 1 + pick(texts[b].length)
  const charStart = (text, i) => (i > 0 && /[\uDC00-\uDFFF]/.test(text.toString()[i]) ? i - 1 : i)
  const charEnd = (text, i) => (/[\uDC00-\uDFFF]/.test(text.toString()[i] || '') ? i + 1 : i)
  const anchors = anchorsAround(
    { type: texts[a], index: charStart(texts[a], from) },
    { type: texts[b], index: charEnd(texts[b], after) })
  for (let step = 0; step < pick(6); step++) {
    const live = liveTexts(fragment)
    const kind = pick(5)
    if (kind === 0 && fragment.length > 1) {
      fragment.delete(pick(fragment.length), 1)
    } else if (kind === 1) {
      fragment.insert(pick(fragment.length + 1), [paragraph()])
    } else if (live.length > 0) {
      const text = live[pick(live.length)]
      const s = text.toString()
      const at = charStart(text, pick(s.length + 1))
      if (kind === 2 || s.length === 0) text.insert(at, ' ' + WORDS[pick(WORDS.length)])
      else text.delete(at, charEnd(text, Math.min(s.length, at + 1 + pick(8))) - at)
    }
  }
  const found = resolvePassage(doc, fragment, anchors.start, anchors.end)
  cases.push({ update: b64(Y.encodeStateAsUpdate(doc)), anchors, state: found.state, text: found.text || '' })
}
console.log(JSON.stringify(cases))
