// The websocket connection: one Y.Doc per section, the plain y-websocket protocol, plus the two
// server messages that y-websocket does not handle the way we need.
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import * as decoding from 'lib0/decoding'
import { readAuthMessage } from 'y-protocols/auth'
import { jitterReconnection } from './reconnect.js'

export const MESSAGE_AUTH = 2 // y-websocket's auth message: varUint 0 (permission denied) + varString reason
export const MESSAGE_DURABLE = 4 // ours: varUint8Array holding the state vector now committed to the store

/**
 * Base URL of the collab endpoint. `data-ws-url` (a full `ws(s)://host[:port][/path]`) overrides the
 * same-origin default; it exists for test harnesses that talk to another server.
 */
export function collabBaseUrl (dataset, loc) {
  if (dataset.wsUrl) return dataset.wsUrl
  loc = loc || window.location
  const scheme = loc.protocol === 'https:' ? 'wss://' : 'ws://'
  return scheme + loc.host + (dataset.wsPath || '/collab')
}

/**
 * Open the room. The provider is created unconnected so that our message handlers are in place
 * before the first byte can arrive; `connect()` then opens the socket (the session cookie
 * authenticates it: same origin).
 *
 * @param {{ onDenied: (reason: string) => void, onDurable: (sv: Map<number, number>) => void }} hooks
 * @param {{ WebSocketPolyfill?: typeof WebSocket }} [options] another WebSocket class (node tests)
 */
export function openRoom (dataset, hooks, { WebSocketPolyfill } = {}) {
  // gc: false — the server keeps deleted content for history, and a client that garbage-collected
  // it could not take part in snapshot views later.
  const doc = new Y.Doc({ gc: false })
  const provider = new WebsocketProvider(collabBaseUrl(dataset), dataset.room, doc, {
    connect: false,
    disableBc: true, // tabs talk through the server, which stamps identities and enforces rights
    maxBackoffTime: 10000,
    ...(WebSocketPolyfill ? { WebSocketPolyfill } : {}) // node clients in tests
  })
  // `provider.messageHandlers` is the per-provider copy of y-websocket's handler table (v3 no
  // longer exports the module-level array; the copy is where messages are dispatched from).
  provider.messageHandlers[MESSAGE_AUTH] = (_encoder, decoder) => {
    // The default handler only logs to the console; the page must switch to read-only instead.
    readAuthMessage(decoder, doc, (_doc, reason) => hooks.onDenied(reason))
  }
  provider.messageHandlers[MESSAGE_DURABLE] = (_encoder, decoder) => {
    hooks.onDurable(Y.decodeStateVector(decoding.readVarUint8Array(decoder)))
  }
  jitterReconnection(provider, { max: 10000 })
  return { doc, provider }
}
