// The formatting toolbar of a rich-text answer (WAI-ARIA "toolbar" pattern): real buttons with
// French names, `aria-pressed` for what applies at the cursor, one Tab stop for the whole toolbar
// and arrow keys inside it (roving tabindex).
import { h } from './dom.js'
import { buildLinkForm } from './link-form.js'

// name: the accessible (and visible) name; run: the Tiptap command; active: what aria-pressed mirrors.
const BUTTONS = [
  { id: 'bold', name: 'Gras', keys: 'Control+B', run: (c) => c.toggleBold(), active: (e) => e.isActive('bold') },
  { id: 'italic', name: 'Italique', keys: 'Control+I', run: (c) => c.toggleItalic(), active: (e) => e.isActive('italic') },
  { id: 'h2', name: 'Titre', run: (c) => c.toggleHeading({ level: 2 }), active: (e) => e.isActive('heading', { level: 2 }) },
  { id: 'h3', name: 'Sous-titre', run: (c) => c.toggleHeading({ level: 3 }), active: (e) => e.isActive('heading', { level: 3 }) },
  { id: 'ul', name: 'Liste à puces', run: (c) => c.toggleBulletList(), active: (e) => e.isActive('bulletList') },
  { id: 'ol', name: 'Liste numérotée', run: (c) => c.toggleOrderedList(), active: (e) => e.isActive('orderedList') },
  { id: 'link', name: 'Lien', active: (e) => e.isActive('link') }
]

/** @param {import('@tiptap/core').Editor} editor */
export function buildToolbar (editor, question) {
  const title = document.getElementById(question.labelId)
  const titleText = title ? title.textContent.replace(/\s+/g, ' ').trim() : ''
  const toolbar = h('div', {
    class: 'editor__toolbar',
    role: 'toolbar',
    'aria-label': titleText ? `Mise en forme : ${titleText}` : 'Mise en forme',
    'aria-controls': editor.view.dom.id
  })
  const linkForm = buildLinkForm(editor, question, () => buttons.get('link'))
  const buttons = new Map()
  for (const spec of BUTTONS) {
    const button = h('button', {
      type: 'button',
      class: `editor__button editor__button--${spec.id}`,
      'aria-pressed': 'false',
      'aria-keyshortcuts': spec.keys,
      tabindex: '-1'
    }, spec.name)
    // Keep the editor's selection: a mouse press on a button must not move the focus first.
    button.addEventListener('mousedown', (event) => event.preventDefault())
    button.addEventListener('click', (event) => {
      if (spec.id === 'link') {
        linkForm.open()
        return
      }
      // From the keyboard (click with detail 0) the focus stays on the toolbar, as the ARIA
      // toolbar pattern expects, and aria-pressed is announced; with a mouse it returns to the text.
      const chain = event.detail === 0 ? editor.chain() : editor.chain().focus()
      spec.run(chain).run()
      refresh()
    })
    buttons.set(spec.id, button)
    toolbar.append(button)
  }
  const list = [...buttons.values()]
  list[0].tabIndex = 0

  // Roving tabindex: the toolbar is one Tab stop; arrows, Home and End move inside it.
  toolbar.addEventListener('keydown', (event) => {
    const index = list.indexOf(document.activeElement)
    if (index < 0) return
    const moves = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: list.length - 1 }
    if (!(event.key in moves)) return
    event.preventDefault()
    focusButton(list, (moves[event.key] + list.length) % list.length)
  })
  toolbar.addEventListener('focusin', (event) => {
    if (list.includes(event.target)) focusButton(list, list.indexOf(event.target))
  })
  // Tab from the toolbar back to the text must find the selection where it was. A command run
  // from the keyboard redraws the text while the editor has no focus, so ProseMirror leaves the
  // browser's selection stale (at the start of the redrawn paragraph) and would then adopt it:
  // the word just made bold would no longer be selected, nor the caret where the person left it.
  editor.view.dom.addEventListener('focus', (event) => {
    if (toolbar.contains(event.relatedTarget)) editor.view.focus() // writes the state's selection
  })

  const refresh = () => {
    for (const spec of BUTTONS) {
      const pressed = String(Boolean(spec.active(editor)))
      const button = buttons.get(spec.id)
      if (button.getAttribute('aria-pressed') !== pressed) button.setAttribute('aria-pressed', pressed)
    }
  }
  editor.on('transaction', refresh)
  refresh()

  return { element: toolbar, linkForm: linkForm.element, closeLinkForm: linkForm.close }
}

function focusButton (list, index) {
  list.forEach((button, i) => { button.tabIndex = i === index ? 0 : -1 })
  if (document.activeElement !== list[index]) list[index].focus()
}
