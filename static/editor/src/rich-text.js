// A `texte` answer: a Tiptap editor bound to the root Y.XmlFragment named by the question key.
// Its schema is the subset the server renders (app/services/richtext.py): paragraph, heading 2–4,
// bullet and ordered lists, hard break, bold, italic, link (plus blockquote, see below). Anything
// else would be typed, stored and then dropped from the dossier, so it is not offered at all.
import { Editor, Extension, mergeAttributes } from '@tiptap/core'
import StarterKit from '@tiptap/starter-kit'
import Heading from '@tiptap/extension-heading'
import Link from '@tiptap/extension-link'
import Collaboration from '@tiptap/extension-collaboration'
import CollaborationCaret from '@tiptap/extension-collaboration-caret'
import { h, uid } from './dom.js'
import { colourOf, textOn, translucent } from './colors.js'
import { buildToolbar } from './toolbar.js'
import { isAllowedLink } from './links.js'

/**
 * @param {{ key: string, labelId: string }} question
 * @param {{ doc: import('yjs').Doc, provider: any, user: { name: string, color: string }, comments?: any }} room
 */
export function createRichText (question, room) {
  const root = h('div', { class: 'editor editor--rich' })
  const content = h('div', { class: 'editor__content-wrap' })
  const editor = new Editor({
    element: content,
    injectCSS: false, // the CSP allows no <style> injection; our rules live in editor.css
    editable: true,
    extensions: [
      StarterKit.configure({
        heading: false, // OutlineHeading below
        // Blockquote has no button but stays in the schema: the server renders it, and y-prosemirror
        // deletes from the shared document any node the schema cannot represent.
        code: false,
        codeBlock: false,
        horizontalRule: false,
        strike: false,
        underline: false,
        link: false, // configured below, from @tiptap/extension-link
        // Collaboration brings its own undo (Yjs' UndoManager, which only undoes our own changes).
        undoRedo: false,
        // TrailingNode appends an empty paragraph on load: every browser opening the page would
        // then write to the shared document at once (a change per reader, concurrent duplicates).
        trailingNode: false
      }),
      OutlineHeading.configure({ levels: [2, 3, 4] }),
      Link.configure({
        openOnClick: false, // a click places the cursor; following a link while writing surprises
        // Autolink re-runs on every document change, remote ones included: each browser would add
        // (or re-add, after someone removed it) the same mark and write it back. Links come from the
        // toolbar and from pasting a URL, which only the person pasting does.
        autolink: false,
        linkOnPaste: true,
        defaultProtocol: 'https',
        HTMLAttributes: { target: null, rel: 'noopener noreferrer nofollow' },
        isAllowedUri: (url) => isAllowedLink(url)
      }),
      ListIndentKeys,
      Collaboration.configure({ document: room.doc, field: question.key }),
      CollaborationCaret.configure({
        provider: room.provider,
        user: room.user, // the same object main.js put in our awareness state: Tiptap sets it again
        render: renderCaret,
        selectionRender: renderSelection
      }),
      // Highlights of the passages commented on (comments.js), when the page lists threads.
      ...(room.comments ? [room.comments.extension(question.key)] : [])
    ],
    editorProps: {
      attributes: {
        class: 'editor__content',
        role: 'textbox',
        'aria-multiline': 'true',
        'aria-labelledby': question.labelId,
        id: uid(question.key + '-texte')
      }
    }
  })
  // Tab must leave the editor (RGAA 12.9, no keyboard trap): Tiptap's list keymaps use it to indent,
  // which also turns Shift+Tab into "un-indent" instead of "back to the toolbar". Stopping the event
  // on its way down, before ProseMirror sees it, keeps the browser's own focus move.
  content.addEventListener('keydown', (event) => {
    if (event.key === 'Tab' && !event.ctrlKey && !event.altKey && !event.metaKey) event.stopPropagation()
  }, { capture: true })
  const toolbar = buildToolbar(editor, question)
  root.append(toolbar.element, toolbar.linkForm, content)
  if (room.comments) {
    // Outside the formatting toolbar: read-only readers (relecteurs) comment too.
    const bar = room.comments.bar(question.key, editor)
    if (bar) root.append(bar)
    room.comments.register(question.key, editor)
  }

  return {
    element: root,
    editor,
    setEditable (editable) {
      editor.setEditable(editable)
      editor.view.dom.setAttribute('aria-readonly', editable ? 'false' : 'true')
      toolbar.element.hidden = !editable
      if (!editable) toolbar.closeLinkForm()
    }
  }
}

// Headings are stored as levels 2–4 (« Titre » is 2) but shown one level down, <h3>–<h5>, as the
// server's read view does: the question title is the page's <h2>, and screen reader users move
// through the page by its heading outline (RGAA 9.1).
const OutlineHeading = Heading.extend({
  parseHTML () {
    return [1, 2, 3, 4, 5, 6].map((tag) => ({ tag: `h${tag}`, attrs: { level: Math.min(Math.max(tag - 1, 2), 4) } }))
  },
  renderHTML ({ node, HTMLAttributes }) {
    const level = this.options.levels.includes(node.attrs.level) ? node.attrs.level : 2
    return [`h${level + 1}`, mergeAttributes(this.options.HTMLAttributes, HTMLAttributes), 0]
  }
})

// Indenting list items, now that Tab is left to focus navigation: Ctrl+] and Ctrl+[.
const ListIndentKeys = Extension.create({
  name: 'listIndentKeys',
  addKeyboardShortcuts () {
    return {
      'Mod-]': () => this.editor.commands.sinkListItem('listItem'),
      'Mod-[': () => this.editor.commands.liftListItem('listItem')
    }
  }
})

// Other people's carets: a coloured bar with their name. Colours go through the CSSOM only.
function renderCaret (user) {
  const colour = colourOf(user)
  const caret = h('span', { class: 'editor__caret', 'aria-hidden': 'true' })
  caret.style.borderColor = colour
  const label = h('span', { class: 'editor__caret-label' }, String(user.name || 'Anonyme'))
  label.style.backgroundColor = colour
  label.style.color = textOn(colour)
  caret.append(label)
  return caret
}

// Decoration attributes are applied by ProseMirror through `style.cssText` (CSSOM, allowed by
// the CSP); the colour is validated hex, so nothing else can be smuggled into that declaration.
function renderSelection (user) {
  const tint = translucent(colourOf(user))
  const attrs = { nodeName: 'span', class: 'editor__selection' }
  if (tint) attrs.style = `background-color: ${tint}`
  return attrs
}
