// « Enregistré » means committed to the server's update log, and only the server can say so: after
// each group commit it sends the senders a durable state vector (message type 4). This module
// compares our own client's clock with that vector; it never infers "saved" from time passing or
// from the socket being open.
import * as Y from 'yjs'

// « Enregistré » is shown only once no local change was made for this long (and the server has
// confirmed everything). With acknowledgements arriving within milliseconds, the status would
// otherwise flip at every keystroke, and screen readers would announce each flip. Holding
// « Enregistrement… » a little longer is never a false claim; the reverse would be.
export const SETTLE_MS = 750

const TEXT = {
  connected: 'Connecté',
  saving: 'Enregistrement…',
  saved: 'Enregistré',
  offline: 'Hors ligne — vos modifications seront envoyées à la reconnexion',
  unreachable: 'Hors ligne — nouvelle tentative de connexion…',
  readOnly: 'Lecture seule',
  readOnlyOffline: 'Lecture seule — hors ligne',
  readOnlyUnsaved: 'Lecture seule — vos dernières modifications n’ont pas été enregistrées'
}

export class SaveStatus {
  /** @param {HTMLElement | null} el  the server-rendered `.save-status` (role="status") */
  constructor (el, doc, now = () => Date.now()) {
    this.el = el
    this.doc = doc
    this.now = now
    this.lastChange = -Infinity
    this.timer = null
    this.synced = false // synced at least once
    this.online = true // until the provider says otherwise
    this.readOnly = false
    this.closedText = '' // set when the server closed the connection for good
    this.edited = false // a local change was made in this page
    this.localClock = 0 // our clock after our last insertion (a state-vector entry: next clock)
    this.durableClock = 0 // the server's durable state vector, our entry
    // A change that only deletes does not move our clock, so the state vector cannot prove it
    // durable. Each one waits here, in send order, for proof from the order of messages: see durable().
    /** @type {{ clock: number, armed: boolean }[]} */
    this.deletes = []
  }

  get pending () {
    return this.localClock > this.durableClock || this.deletes.length > 0
  }

  /** A local Yjs transaction changed the document. */
  localChange () {
    const clock = Y.getState(this.doc.store, this.doc.clientID)
    const earlierPending = this.pending
    this.edited = true
    this.lastChange = this.now()
    if (clock > this.localClock) {
      this.localClock = clock
    } else {
      // Armed at once when nothing of ours is unacknowledged: then no commit holding our earlier
      // updates can still be in flight, and the next acknowledgement is for a commit holding this.
      this.deletes.push({ clock, armed: !earlierPending })
    }
    this.render()
  }

  /** Message type 4: `sv` (client id → clock) is committed. */
  durable (sv) {
    this.durableClock = Math.max(this.durableClock, sv.get(this.doc.clientID) || 0)
    // The server appends updates in the order it received them (one connection is one ordered
    // stream) and acknowledges after each commit. A pending delete is therefore durable when
    // (a) an insertion we sent after it is durable, or (b) it was armed — everything we sent
    // before it was already known durable — before this acknowledgement arrived.
    while (this.deletes.length > 0) {
      const first = this.deletes[0]
      if (!first.armed && this.durableClock <= first.clock) break
      this.deletes.shift()
    }
    // The next one is armed once everything before it is durable; the next acknowledgement settles it.
    if (this.deletes.length > 0 && this.durableClock >= this.deletes[0].clock) this.deletes[0].armed = true
    this.render()
  }

  /**
   * A new socket is open. Its first sync sends the server everything it lacks (our whole delete
   * set included), so any acknowledgement on it covers every pending delete. We are not "online"
   * yet: a server may accept the socket and close it at once (rights withdrawn, overload).
   */
  newConnection () {
    for (const d of this.deletes) d.armed = true
  }

  /** The server answered our sync on this connection: we are online. */
  sync () {
    this.synced = true
    this.online = true
    this.render()
  }

  offline () {
    this.online = false
    this.render()
  }

  setReadOnly () {
    this.readOnly = true
    this.render()
  }

  closed (text) {
    this.closedText = text
    this.render()
  }

  text () {
    if (this.closedText) return this.closedText
    if (this.readOnly) {
      if (this.edited && this.pending) return TEXT.readOnlyUnsaved
      return this.online ? TEXT.readOnly : TEXT.readOnlyOffline
    }
    if (!this.online) return this.synced ? TEXT.offline : TEXT.unreachable
    if (!this.synced) return ''
    if (!this.edited) return TEXT.connected
    return this.saved() ? TEXT.saved : TEXT.saving
  }

  saved () {
    return !this.pending && this.now() - this.lastChange >= SETTLE_MS
  }

  render () {
    const text = this.text()
    // Only touch the live region when the words change, so screen readers are not flooded.
    if (this.el && this.el.textContent !== text) this.el.textContent = text
    if (this.el) this.el.dataset.state = this.state()
    // Confirmed but still settling: look again when the pause is long enough.
    if (!this.pending && !this.saved() && this.timer === null && this.el) {
      this.timer = setTimeout(() => {
        this.timer = null
        this.render()
      }, SETTLE_MS - (this.now() - this.lastChange))
    }
  }

  /** A stable word for styling and tests. */
  state () {
    if (this.closedText) return 'closed'
    if (this.readOnly) return 'read-only'
    if (!this.online) return 'offline'
    if (!this.synced) return 'connecting'
    if (!this.edited) return 'connected'
    return this.saved() ? 'saved' : 'saving'
  }
}
