// Who is in the room, from awareness states. The server stamps `user` ({ name, color, id }) from
// the authenticated account on every state it relays, so what we list for others is never what
// their browser claimed. Our own entry comes from our local state (the server's stamped echo of it
// has the same clock and is not applied by y-protocols).
import { h } from './dom.js'
import { colourOf } from './colors.js'

/**
 * @param {HTMLElement | null} list  the server-rendered `ul.presence`
 * @param {import('y-protocols/awareness').Awareness} awareness
 */
export function watchPresence (list, awareness) {
  if (!list) return () => {}
  let shown = ''
  const render = () => {
    const people = []
    const seen = new Set()
    for (const [clientId, state] of awareness.getStates()) {
      const user = state && state.user
      if (!user || typeof user.name !== 'string' || !user.name.trim()) continue
      const self = clientId === awareness.clientID
      // One entry per person: the same account in two tabs (or two editors) is one presence.
      const key = user.id !== undefined ? `id:${user.id}` : `name:${user.name}`
      if (seen.has(key)) continue
      seen.add(key)
      people.push({ name: user.name.trim(), colour: colourOf(user), self })
    }
    people.sort((a, b) => (b.self - a.self) || a.name.localeCompare(b.name, 'fr'))
    // Cursor moves change awareness constantly: rebuild the list only when it really changed.
    const signature = JSON.stringify(people)
    if (signature === shown) return
    shown = signature
    list.replaceChildren(...people.map(renderPerson))
  }
  awareness.on('change', render)
  render()
  return render
}

function renderPerson ({ name, colour, self }) {
  const dot = h('span', { class: 'presence__dot', 'aria-hidden': 'true' })
  dot.style.backgroundColor = colour // CSSOM: allowed by the CSP, unlike a style attribute
  const item = h('li', { class: 'presence__person' }, dot, h('span', { class: 'presence__name' }, name))
  if (self) item.append(h('span', { class: 'presence__self' }, ' (vous)'))
  return item
}
