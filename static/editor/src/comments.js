// Comment threads in the editor island: highlights of commented passages (a ProseMirror decoration
// plugin reading the thread list the server rendered), « Commenter ce passage » for a selection, and
// the page's passage tools (« Voir le passage », « Rattacher à la sélection »).
//
// DOM contract (templates/comments/_macros.html): each thread is an `article.thread[data-thread]
// [data-question][data-resolved][data-placement][data-author]` with `data-anchor-start` and
// `data-anchor-end` when it is on a passage; a question's new-thread form is
// `form[data-new-thread][data-question]` (hidden `anchor_start`, `anchor_end`, `quote`, a
// `[data-passage]` box holding `[data-passage-text]`); re-attaching is `form[data-reattach]
// [data-question]`; elements marked `[data-needs-editor]` are shown once the editor is there.
// static/js/comments.js swaps the lists and fires `commentaires:actualises`; we fire
// `commentaires:rafraichir` when our own reading of a passage differs from the server's.
import { Extension } from '@tiptap/core'
import { Plugin, PluginKey } from '@tiptap/pm/state'
import { Decoration, DecorationSet } from '@tiptap/pm/view'
import { absolutePositionToRelativePosition, ySyncPluginKey } from '@tiptap/y-tiptap'
import * as Y from 'yjs'
import { h } from './dom.js'
import { ATTACHED, DELETED, anchorsAround, pmPosition, resolvePassage } from './anchors.js'

const MAX_QUOTE = 280
const SAVE_WAIT_MS = 5000
const RECHECK_MS = 1500

/** The threads of the page (read from the DOM) and the rich-text editors that show them. */
export function createComments (status) {
  const editors = new Map() // question key → Tiptap editor
  const listeners = new Map() // question key → () => void
  let threads = readThreads()
  const reported = new Set()
  let recheck = null

  const comments = {
    threads: (key) => threads.filter((t) => t.question === key),
    editor: (key) => editors.get(key),
    /** The Tiptap extension highlighting the passages of `key`'s threads. */
    extension: (key) => Highlights.configure({ key, comments }),
    listen (key, callback) { listeners.set(key, callback) },
    register (key, editor) {
      editors.set(key, editor)
      showTools()
    },
    /** The bar under a rich-text answer: « Commenter ce passage », when one may comment. */
    bar: (key, editor) => commentBar(key, editor),
    /** Called after each highlight computation: asks for fresh lists when we disagree. */
    compare (key, states) {
      for (const thread of comments.threads(key)) {
        const mine = states.get(thread.id)
        const theirs = thread.placement === 'supprime' ? DELETED : thread.placement === 'attache' ? ATTACHED : null
        if (mine && theirs && mine !== theirs) disagree(`${thread.id}:${mine}`)
      }
    }
  }

  function disagree (signature) {
    if (reported.has(signature)) return // asked once already: the server has its reasons
    reported.add(signature)
    clearTimeout(recheck)
    // After our own edit is stored (group commit, a few ms): the server reads what it stored.
    recheck = setTimeout(() => document.dispatchEvent(new CustomEvent('commentaires:rafraichir')), RECHECK_MS)
  }

  function showTools () {
    for (const element of document.querySelectorAll('[data-needs-editor]')) {
      const owner = element.closest('[data-question]')
      element.hidden = !(owner && editors.has(owner.dataset.question))
    }
  }

  document.addEventListener('commentaires:actualises', () => {
    threads = readThreads()
    showTools()
    for (const callback of listeners.values()) callback()
  })
  document.addEventListener('click', (event) => onClick(event, comments))
  // Capture: before static/js/comments.js (or the browser) sends the form.
  document.addEventListener('submit', (event) => onSubmit(event, comments, status), true)
  return comments
}

function readThreads () {
  return [...document.querySelectorAll('article.thread[data-anchor-start]')].map((element) => ({
    id: element.dataset.thread,
    question: element.dataset.question,
    start: element.dataset.anchorStart,
    end: element.dataset.anchorEnd,
    resolved: element.dataset.resolved === 'true',
    placement: element.dataset.placement,
    author: element.dataset.author || ''
  }))
}

// --- Highlights -------------------------------------------------------------------------------

const Highlights = Extension.create({
  name: 'commentHighlights',
  addOptions () { return { key: '', comments: null } },
  addProseMirrorPlugins () {
    const { key, comments } = this.options
    const pluginKey = new PluginKey(`comments-${key}`)
    return [new Plugin({
      key: pluginKey,
      state: {
        init: () => DecorationSet.empty,
        apply (tr, set) {
          const fresh = tr.getMeta(pluginKey)
          if (fresh) return fresh
          return tr.docChanged ? set.map(tr.mapping, tr.doc) : set
        }
      },
      props: { decorations: (state) => pluginKey.getState(state) },
      view (view) {
        // Recomputed from Yjs after the change reached it (y-prosemirror writes local changes to
        // Yjs after the transaction is applied): mapped meanwhile.
        let timer = null
        const recompute = () => {
          timer = null
          if (view.isDestroyed) return
          const { set, states } = decorations(view.state, comments.threads(key))
          // Mapping usually got it right already: a transaction only when something moved.
          if (signature(set) !== signature(pluginKey.getState(view.state))) {
            view.dispatch(view.state.tr.setMeta(pluginKey, set).setMeta('addToHistory', false))
          }
          comments.compare(key, states)
        }
        const schedule = () => { if (timer === null) timer = setTimeout(recompute, 0) }
        comments.listen(key, schedule)
        schedule()
        return {
          update (_view, previous) { if (view.state.doc !== previous.doc) schedule() },
          destroy () { clearTimeout(timer) }
        }
      }
    })]
  }
})

/** Where each open thread's passage is in this editor now. */
export function passageRange (state, thread) {
  const sync = ySyncPluginKey.getState(state)
  if (!sync || !sync.binding) return { state: null }
  const found = resolvePassage(sync.doc, sync.type, thread.start, thread.end)
  if (found.state !== ATTACHED) return found
  const from = pmPosition(sync.type, sync.binding.mapping, found.from.type, found.from.index)
  const to = pmPosition(sync.type, sync.binding.mapping, found.to.type, found.to.index)
  if (from === null || to === null || from >= to || to > state.doc.content.size) return { state: null }
  return { ...found, from, to }
}

function decorations (state, threads) {
  const list = []
  const states = new Map()
  for (const thread of threads) {
    const range = passageRange(state, thread)
    states.set(thread.id, range.state)
    if (thread.resolved || range.state !== ATTACHED) continue
    list.push(Decoration.inline(range.from, range.to, { class: 'editor__comment', 'data-thread': thread.id }, { key: `passage-${thread.id}` }))
    list.push(Decoration.widget(range.to, () => marker(thread), {
      side: -1, key: `fil-${thread.id}`, ignoreSelection: true, stopEvent: () => true
    }))
  }
  return { set: DecorationSet.create(state.doc, list), states }
}

function signature (set) {
  return set.find().map((d) => `${d.spec.key}@${d.from}-${d.to}`).join(' ')
}

// A link from the highlight to its thread, reachable by keyboard (and announced with its author).
function marker (thread) {
  return h('a', {
    class: 'editor__comment-marker',
    href: `#fil-${thread.id}`,
    contenteditable: 'false',
    'data-thread-link': thread.id,
    'aria-label': `Commentaire n° ${thread.id}${thread.author ? ' de ' + thread.author : ''} : aller au fil`
  }, String(thread.id))
}

// --- Choosing a passage ---------------------------------------------------------------------

/** The selected range of the editor: the browser's selection when it lies in it (read-only views
 * keep theirs there), else ProseMirror's. */
function selectedRange (editor) {
  const view = editor.view
  const selection = window.getSelection()
  if (selection && selection.rangeCount > 0 && !selection.isCollapsed &&
      view.dom.contains(selection.anchorNode) && view.dom.contains(selection.focusNode)) {
    try {
      const a = view.posAtDOM(selection.anchorNode, selection.anchorOffset)
      const b = view.posAtDOM(selection.focusNode, selection.focusOffset)
      if (a !== b) return { from: Math.min(a, b), to: Math.max(a, b) }
    } catch {
      // a node ProseMirror does not know: fall back to its own selection
    }
  }
  const { from, to } = view.state.selection
  return from < to ? { from, to } : null
}

/** The anchors and quote of the text selected in `editor`, or null when no text is selected. */
export function selectedPassage (editor) {
  const range = selectedRange(editor)
  const state = editor.state
  const sync = ySyncPluginKey.getState(state)
  if (!range || !sync || !sync.binding) return null
  let first = null
  let after = null
  state.doc.nodesBetween(range.from, range.to, (node, pos) => {
    if (!node.isText) return
    const start = Math.max(range.from, pos)
    const end = Math.min(range.to, pos + node.nodeSize)
    if (start < end) {
      if (first === null) first = start
      after = end
    }
  })
  if (first === null) return null
  const toY = (pos) => Y.createAbsolutePositionFromRelativePosition(
    absolutePositionToRelativePosition(pos, sync.type, sync.binding.mapping), sync.doc)
  const yFirst = toY(first)
  const yAfter = toY(after)
  if (!yFirst || !yAfter || !(yFirst.type instanceof Y.XmlText) || !(yAfter.type instanceof Y.XmlText)) return null
  const quote = state.doc.textBetween(first, after, ' ', ' ').replace(/\s+/g, ' ').trim()
  return {
    ...anchorsAround(yFirst, yAfter),
    quote: quote.length > MAX_QUOTE ? quote.slice(0, MAX_QUOTE - 1).trimEnd() + '…' : quote
  }
}

function commentBar (key, editor) {
  const form = document.querySelector(`form[data-new-thread][data-question="${CSS.escape(key)}"]`)
  if (!form) return null // this person may not comment
  const button = h('button', { type: 'button', class: 'button button--quiet editor__comment-button' }, 'Commenter ce passage')
  const message = h('p', { class: 'editor__comment-message', role: 'status' })
  // Keep the selection: a mouse press on the button must not move it first.
  button.addEventListener('mousedown', (event) => event.preventDefault())
  button.addEventListener('click', () => {
    const target = document.querySelector(`form[data-new-thread][data-question="${CSS.escape(key)}"]`)
    const passage = selectedPassage(editor)
    if (!passage || !target) {
      message.textContent = 'Sélectionnez d’abord, dans la réponse, le passage à commenter.'
      return
    }
    message.textContent = ''
    fillPassage(target, passage)
    const fold = target.closest('details')
    if (fold) fold.open = true // the form is folded until wanted
    const field = target.querySelector('textarea')
    field.scrollIntoView({ block: 'center' })
    field.focus()
  })
  return h('div', { class: 'editor__comment-bar' }, button, message)
}

function fillPassage (form, passage) {
  form.elements.anchor_start.value = passage ? passage.start : ''
  form.elements.anchor_end.value = passage ? passage.end : ''
  form.elements.quote.value = passage ? passage.quote : ''
  const box = form.querySelector('[data-passage]')
  box.querySelector('[data-passage-text]').textContent = passage ? passage.quote : ''
  box.hidden = !passage
}

// --- The page's passage tools ---------------------------------------------------------------

function onClick (event, comments) {
  const link = event.target.closest && event.target.closest('[data-thread-link]')
  if (link) {
    event.preventDefault()
    const thread = document.getElementById(`fil-${link.dataset.threadLink}`)
    if (thread) {
      thread.scrollIntoView({ block: 'start' })
      thread.focus({ preventScroll: true })
    }
    return
  }
  const show = event.target.closest && event.target.closest('[data-show-passage]')
  if (show) showPassage(show, comments)
  const forget = event.target.closest && event.target.closest('[data-forget-passage]')
  if (forget) {
    const form = forget.closest('form')
    fillPassage(form, null)
    form.querySelector('textarea').focus()
  }
}

function showPassage (button, comments) {
  const article = button.closest('article.thread')
  const thread = comments.threads(article.dataset.question).find((t) => t.id === article.dataset.thread)
  const editor = comments.editor(article.dataset.question)
  const range = thread && editor && passageRange(editor.state, thread)
  if (!range || range.state !== ATTACHED) {
    button.textContent = 'Passage introuvable pour le moment'
    return
  }
  editor.commands.setTextSelection({ from: range.from, to: range.to })
  const marked = editor.view.dom.querySelector(`[data-thread-link="${CSS.escape(thread.id)}"]`)
  if (editor.isEditable) editor.commands.focus()
  if (marked) {
    marked.scrollIntoView({ block: 'center' })
    if (!editor.isEditable) marked.focus()
  } else {
    editor.commands.scrollIntoView()
  }
}

function onSubmit (event, comments, status) {
  const form = event.target
  if (!form.matches || !form.matches('form[data-reattach], form[data-new-thread]')) return
  if (form.matches('[data-reattach]')) {
    const editor = comments.editor(form.dataset.question)
    const passage = editor && selectedPassage(editor)
    const alert = form.querySelector('[data-comment-alert]')
    if (!passage) {
      event.preventDefault()
      event.stopImmediatePropagation()
      alert.textContent = 'Sélectionnez d’abord, dans la réponse, le nouveau passage de ce fil.'
      alert.hidden = false
      return
    }
    alert.hidden = true
    form.elements.anchor_start.value = passage.start
    form.elements.anchor_end.value = passage.end
  }
  // The anchors name characters the server must have: wait until our edits are stored.
  if (form.elements.anchor_start && form.elements.anchor_start.value && status.pending && !form.dataset.waited) {
    event.preventDefault()
    event.stopImmediatePropagation()
    form.dataset.waited = 'true'
    const deadline = Date.now() + SAVE_WAIT_MS
    const retry = () => {
      if (status.pending && Date.now() < deadline) return setTimeout(retry, 100)
      form.requestSubmit()
      delete form.dataset.waited
    }
    retry()
  }
}
