// A real Yjs client (yjs + y-websocket from npm) for tests: joins a section, writes a paragraph
// and an answer, waits until it sees what the other client wrote, then prints its final state.
// Environment: BASE (ws://host:port/collab), ROOM, COOKIE, ORIGIN, KEY (rich-text question),
// WAIT_FOR (text to wait for in KEY), TIMEOUT_MS.
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws'

const { BASE, ROOM, COOKIE, ORIGIN, KEY, WAIT_FOR } = process.env
const timeout = Number(process.env.TIMEOUT_MS || 10000)

class CookieWS extends WebSocket {
  constructor (url, protocols) {
    super(url, protocols, { headers: { Cookie: COOKIE, Origin: ORIGIN } })
  }
}

const doc = new Y.Doc({ gc: false })
const provider = new WebsocketProvider(BASE, ROOM, doc, { WebSocketPolyfill: CookieWS, disableBc: true })
const fragment = doc.getXmlFragment(KEY)
const fail = (why) => { console.error(why); process.exit(1) }
setTimeout(() => fail('timed out; fragment is ' + fragment.toString()), timeout)

provider.on('sync', (synced) => {
  if (!synced) return
  const paragraph = new Y.XmlElement('paragraph')
  paragraph.insert(0, [new Y.XmlText('Écrit depuis node.')])
  fragment.insert(fragment.length, [paragraph])
  doc.getMap('answers').set('gouvernance.elu', true)
  const check = () => {
    if (fragment.toString().includes(WAIT_FOR)) {
      // Let our own update reach the server before leaving.
      setTimeout(() => {
        console.log(JSON.stringify({ fragment: fragment.toString(), answers: doc.getMap('answers').toJSON() }))
        provider.destroy()
        process.exit(0)
      }, 300)
    }
  }
  fragment.observeDeep(check)
  check()
})
