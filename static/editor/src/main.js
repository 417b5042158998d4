// Arobase editor island: enhances the server-rendered section page with live co-editing.
// Contract (rendered by templates/sections/show.html):
//   <div id="editeur" data-room data-ws-path data-can-write data-user-name [data-user-color] [data-ws-url]>
//     <div class="save-status" role="status" aria-live="polite"></div>
//     <ul class="presence" aria-label="…"></ul>
//   </div>
//   <div class="question-editor" data-key data-type data-label-id [data-choices] [data-unit]>
//     <div class="answer">…read view…</div>
//   </div>
// Without JavaScript, or until the first sync, the page shows the read views. When the page lists
// comment threads (#commentaires-flux), rich-text answers highlight their passages (comments.js).
import { openRoom } from './connection.js'
import { SaveStatus } from './save-status.js'
import { watchPresence } from './presence.js'
import { createRichText } from './rich-text.js'
import { createField, watchAnswers, SHORT_TYPES } from './fields.js'
import { colourOf } from './colors.js'
import { createComments } from './comments.js'

function start (root) {
  const dataset = root.dataset
  const userName = (dataset.userName || '').trim() || 'Anonyme'
  const user = { name: userName, color: colourOf({ name: userName, color: dataset.userColor }) }
  let readOnly = dataset.canWrite !== 'true'
  let widgets = null // built at the first sync

  // The hooks only run once `provider.connect()` (below) has let messages in.
  const { doc, provider } = openRoom(dataset, {
    onDenied: () => setReadOnly(),
    onDurable: (sv) => status.durable(sv)
  })
  const status = new SaveStatus(root.querySelector('.save-status'), doc)

  function setReadOnly () {
    readOnly = true
    if (widgets) for (const w of widgets) w.setEditable(false)
    status.setReadOnly()
  }
  if (readOnly) setReadOnly()

  // Our own name and colour, for our own presence entry and so that our caret is labelled before the
  // server's stamped copy reaches the others; what they see of us is what the server stamps from the
  // session, never this.
  provider.awareness.setLocalStateField('user', user)
  watchPresence(root.querySelector('.presence'), provider.awareness)

  doc.on('update', (_update, _origin, _doc, transaction) => {
    if (transaction.local) status.localChange()
  })
  provider.on('status', ({ status: s }) => {
    if (s === 'connected') status.newConnection()
    else if (s === 'disconnected') status.offline()
  })
  // A socket that fails before opening emits no 'disconnected' status: this catches that too.
  provider.on('connection-close', (event) => {
    status.offline()
    // 4001: the server changed our rights and closed; a page rendered read-only cannot become a
    // writer without being rendered again.
    if (event && event.code === 4001) status.closed('Vos droits sur cette section ont changé : rechargez la page.')
  })
  // 4400–4499: the server refused us for good (rights withdrawn); y-websocket stops retrying.
  provider.on('closed', () => {
    setReadOnly()
    status.closed('Vous n’avez plus accès à cette section : rechargez la page.')
  })
  provider.on('sync', (synced) => {
    if (!synced) return
    if (!widgets) widgets = mount({ doc, provider, user, comments: pageComments(status) }, readOnly)
    status.sync()
  })
  // Leaving with changes the server has not confirmed would lose them.
  window.addEventListener('beforeunload', (event) => {
    if (!readOnly && status.pending) event.preventDefault()
  })
  provider.connect()
  return { doc, provider, status }
}

/** Comment threads' highlights and passage tools, when the page lists threads. */
function pageComments (status) {
  return document.getElementById('commentaires-flux') ? createComments(status) : null
}

/** Replace the read views by live widgets, once the document is there to fill them. */
function mount (room, readOnly) {
  const answers = room.doc.getMap('answers')
  const fields = new Map()
  const widgets = []
  for (const container of document.querySelectorAll('.question-editor')) {
    const question = readQuestion(container)
    let widget = null
    if (question.type === 'texte') widget = createRichText(question, room)
    else if (SHORT_TYPES.has(question.type)) widget = createField(question, answers)
    if (!widget) continue // piece_jointe, actions, unknown types: the read view stays
    if (question.type !== 'texte') fields.set(question.key, widget)
    for (const view of container.querySelectorAll(':scope > .answer')) view.hidden = true
    container.append(widget.element)
    widget.setEditable(!readOnly)
    widgets.push(widget)
  }
  watchAnswers(answers, fields)
  return widgets
}

function readQuestion (container) {
  const d = container.dataset
  let choices = []
  try {
    const parsed = JSON.parse(d.choices || '[]')
    if (Array.isArray(parsed)) choices = parsed.filter((c) => c && typeof c.cle === 'string')
  } catch {
    choices = [] // a broken attribute leaves that question on its read view
  }
  return { key: d.key, type: d.type, labelId: d.labelId, choices, unit: d.unit || '' }
}

function boot () {
  const root = document.getElementById('editeur')
  if (root && root.dataset.room) window.arobaseEditor = start(root)
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot)
else boot()
