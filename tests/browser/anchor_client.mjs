// A real Yjs client (yjs + y-websocket) driven line by line, for tests/collab/test_comment_anchors.py:
// joins a section, appends a paragraph (TEXT) to the rich-text question KEY, prints the anchors of
// PASSAGE as the editor island makes them, then obeys one JSON command per line on stdin, answering
// each with one JSON line: {"insert": s, "before": t} | {"delete": s} | {"anchors": s} | {"text": true}
// | {"quit": true}. Environment: BASE (ws://host:port/collab), ROOM, COOKIE, ORIGIN, KEY, TEXT, PASSAGE.
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws'
import readline from 'node:readline'

const { BASE, ROOM, COOKIE, ORIGIN, KEY, TEXT, PASSAGE } = process.env

class CookieWS extends WebSocket {
  constructor (url, protocols) {
    super(url, protocols, { headers: { Cookie: COOKIE, Origin: ORIGIN } })
  }
}

const doc = new Y.Doc({ gc: false })
const provider = new WebsocketProvider(BASE, ROOM, doc, { WebSocketPolyfill: CookieWS, disableBc: true })
const fragment = doc.getXmlFragment(KEY)
const say = (value) => console.log(JSON.stringify(value))
const b64 = (bytes) => Buffer.from(bytes).toString('base64')
let text = null

function anchorsOf (passage) {
  const at = text.toString().indexOf(passage)
  if (at < 0) return null
  const position = (index, assoc) => b64(Y.encodeRelativePosition(Y.createRelativePositionFromTypeIndex(text, index, assoc)))
  return { start: position(at, 0), end: position(at + passage.length, -1) }
}

provider.on('sync', (synced) => {
  if (!synced || text) return
  const paragraph = new Y.XmlElement('paragraph')
  text = new Y.XmlText(TEXT)
  paragraph.insert(0, [text])
  fragment.insert(fragment.length, [paragraph])
  say({ anchors: anchorsOf(PASSAGE) })
})

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const command = JSON.parse(line)
  if (command.insert !== undefined) text.insert(text.toString().indexOf(command.before), command.insert)
  else if (command.delete !== undefined) text.delete(text.toString().indexOf(command.delete), command.delete.length)
  if (command.anchors !== undefined) return say({ anchors: anchorsOf(command.anchors) })
  if (command.quit) {
    setTimeout(() => { provider.destroy(); process.exit(0) }, 300) // let the last update leave
    return
  }
  say({ text: text.toString() })
})
setTimeout(() => { console.error('timed out'); process.exit(1) }, Number(process.env.TIMEOUT_MS || 60000))
