// Reconnection with jitter (run: npm test).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { reconnectDelay, jitterReconnection } from '../src/reconnect.js'

test('delays grow exponentially, stay within half and all of the ceiling, and are capped', () => {
  assert.equal(reconnectDelay(1, 10000, () => 0), 125)
  assert.equal(reconnectDelay(1, 10000, () => 1), 250)
  assert.equal(reconnectDelay(3, 10000, () => 0.5), 750)
  assert.equal(reconnectDelay(20, 10000, () => 1), 10000)
  assert.equal(reconnectDelay(20, 10000, () => 0), 5000)
})

test('clients of one restarted server do not come back together', () => {
  let seed = 7
  const random = () => { seed = (seed * 48271) % 2147483647; return seed / 2147483647 }
  const delays = Array.from({ length: 50 }, () => reconnectDelay(3, 10000, random))
  const spread = Math.max(...delays) - Math.min(...delays)
  assert.ok(spread > 400, `spread ${spread} ms`)
})

function fakeProvider () {
  const handlers = {}
  const provider = {
    shouldConnect: false,
    connects: 0,
    on (name, f) { (handlers[name] ||= []).push(f) },
    emit (name, args) { for (const f of handlers[name] || []) f(...args) },
    connect () { this.shouldConnect = true; this.connects++ },
    disconnect () { this.shouldConnect = false },
    shouldReconnect: (event) => !(event.code >= 4400 && event.code < 4500)
  }
  return provider
}

test('the provider reconnects on our schedule, not on its own', () => {
  const provider = fakeProvider()
  const timers = []
  jitterReconnection(provider, { random: () => 0, schedule: (f, ms) => timers.push([f, ms]), cancel: () => {} })
  provider.connect()
  provider.emit('connection-close', [{ code: 1012 }])
  assert.equal(provider.shouldConnect, false) // y-websocket's own attempt becomes a no-op
  assert.deepEqual(timers.map(([, ms]) => ms), [125])
  timers[0][0]()
  assert.equal(provider.connects, 2)
  provider.emit('connection-close', [{ code: 1006 }])
  assert.deepEqual(timers.map(([, ms]) => ms), [125, 250]) // the next attempt waits longer
  provider.emit('sync', [true])
  provider.emit('connection-close', [{ code: 1006 }])
  assert.equal(timers[2][1], 125) // a synced connection starts the count again
})

test('a refusal or a deliberate disconnect is final', () => {
  const provider = fakeProvider()
  const timers = []
  jitterReconnection(provider, { schedule: (f, ms) => timers.push([f, ms]), cancel: () => {} })
  provider.connect()
  provider.emit('connection-close', [{ code: 4403 }])
  provider.disconnect()
  provider.emit('connection-close', [null])
  assert.equal(timers.length, 0)
})
