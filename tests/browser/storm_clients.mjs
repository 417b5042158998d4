// Many editor connections (our own connection code: static/editor/src/connection.js) for the
// reconnect-storm test. Each client writes a marker, says READY, survives the server's restart,
// writes a second marker once back, and waits until every client has every marker.
// Environment: BASE (ws://host:port/collab), ROOM, COOKIES (one per client, "|"-separated),
// ORIGIN, TIMEOUT_MS.
import WebSocket from 'ws'
import { openRoom } from '../../static/editor/src/connection.js'

const { BASE, ROOM, COOKIES, ORIGIN } = process.env
const cookies = COOKIES.split('|')
const timeout = Number(process.env.TIMEOUT_MS || 40000)
const fail = (why) => { console.error(why); process.exit(1) }
setTimeout(() => fail('timed out'), timeout)

// Each client's sockets carry its own session cookie.
const socketFor = (cookie) => class extends WebSocket {
  constructor (url, protocols) {
    super(url, protocols, { headers: { Cookie: cookie, Origin: ORIGIN } })
  }
}

const started = Date.now()
const clients = cookies.map((cookie, i) => {
  const hooks = { onDenied: fail, onDurable: () => {} }
  const { doc, provider } = openRoom({ wsUrl: BASE, room: ROOM }, hooks, { WebSocketPolyfill: socketFor(cookie) })
  const client = { i, doc, provider, reconnectedAt: null, connections: 0 }
  provider.on('status', ({ status }) => {
    if (status === 'connected' && ++client.connections === 2) client.reconnectedAt = Date.now() - started
  })
  return client
})
clients.forEach(c => c.provider.connect())

const text = (c) => c.doc.getText('storm').toString()
const until = (check) => new Promise((resolve) => {
  const poll = () => (check() ? resolve() : setTimeout(poll, 20))
  poll()
})

await until(() => clients.every(c => c.provider.synced))
clients.forEach(c => c.doc.getText('storm').insert(0, `<${c.i}a>`))
await until(() => clients.every(c => clients.every(o => text(c).includes(`<${o.i}a>`))))
console.log('READY')
await until(() => clients.every(c => c.reconnectedAt !== null && c.provider.synced))
clients.forEach(c => c.doc.getText('storm').insert(0, `<${c.i}b>`))
await until(() => clients.every(c => clients.every(o => text(c).includes(`<${o.i}a>`) && text(c).includes(`<${o.i}b>`))))
await new Promise(resolve => setTimeout(resolve, 300)) // let the last updates reach the server
console.log(JSON.stringify({ reconnected: clients.map(c => c.reconnectedAt), text: text(clients[0]) }))
process.exit(0)
