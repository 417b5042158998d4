// Reconnection with jitter. y-websocket retries after 2^n × 100 ms, the same for every client:
// when a server restarts, all its clients come back in the same instant, again and again. Here
// each attempt waits a random time between half and the whole of an exponential ceiling, so a
// reconnect storm spreads itself out; the document resyncs on each connection as usual.

/** Delay (ms) before reconnection attempt `attempt` (1, 2, …). */
export function reconnectDelay (attempt, max = 10000, random = Math.random) {
  const ceiling = Math.min(max, 250 * 2 ** Math.max(0, attempt - 1))
  return ceiling / 2 + random() * (ceiling / 2)
}

/**
 * Take over `provider`'s reconnection schedule (it must not be connected yet). A close the
 * provider considers final (our 4400–4499 refusals) or a deliberate `disconnect()` stops it.
 */
export function jitterReconnection (provider, { max = 10000, random = Math.random, schedule = setTimeout, cancel = clearTimeout } = {}) {
  let attempt = 0
  let wanted = false
  let timer = null
  const connect = provider.connect.bind(provider)
  const disconnect = provider.disconnect.bind(provider)
  provider.connect = () => { wanted = true; connect() }
  provider.disconnect = () => { wanted = false; cancel(timer); disconnect() }
  provider.on('sync', (synced) => { if (synced) attempt = 0 })
  provider.on('connection-close', (event) => {
    if (!wanted || (event && !provider.shouldReconnect(event, provider))) return
    // y-websocket schedules its own attempt right after this event: make that one a no-op.
    provider.shouldConnect = false
    attempt += 1
    cancel(timer)
    timer = schedule(() => { if (wanted) connect() }, reconnectDelay(attempt, max, random))
  })
  return provider
}
