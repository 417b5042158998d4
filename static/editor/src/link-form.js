// The small inline form behind the « Lien » button: a labelled address field with Appliquer,
// Retirer le lien and Annuler. A native prompt() would be simpler but cannot be styled, explained
// or validated in place, and is announced poorly.
import { h, uid } from './dom.js'
import { normaliseLink } from './links.js'

export function buildLinkForm (editor, question, getButton) {
  const inputId = uid(question.key + '-lien')
  const errorId = inputId + '-erreur'
  const input = h('input', { type: 'text', id: inputId, class: 'editor__link-input', inputmode: 'url', autocomplete: 'url', spellcheck: 'false', 'aria-describedby': errorId })
  const error = h('p', { class: 'editor__link-error', id: errorId, hidden: true })
  const apply = h('button', { type: 'button', class: 'button' }, 'Appliquer')
  const remove = h('button', { type: 'button', class: 'button button--secondary' }, 'Retirer le lien')
  const cancel = h('button', { type: 'button', class: 'button button--quiet' }, 'Annuler')
  const element = h('div', { class: 'editor__link-form', hidden: true },
    h('label', { for: inputId }, 'Adresse du lien (https://…, ou une adresse électronique)'),
    input, error,
    h('div', { class: 'editor__link-actions' }, apply, remove, cancel))

  const close = (refocus = true) => {
    if (element.hidden) return
    element.hidden = true
    showError('')
    if (refocus) editor.commands.focus()
  }
  const showError = (text) => {
    error.textContent = text
    error.hidden = text === ''
    input.setAttribute('aria-invalid', text === '' ? 'false' : 'true')
  }
  const open = () => {
    const current = editor.getAttributes('link').href || ''
    input.value = current
    remove.hidden = current === ''
    showError('')
    element.hidden = false
    input.focus()
    input.select()
  }
  const submit = () => {
    const href = normaliseLink(input.value)
    if (!href) {
      showError('Cette adresse n’est pas valide : saisissez une adresse web (https://…) ou une adresse électronique.')
      input.focus()
      return
    }
    const chain = editor.chain().focus()
    if (editor.state.selection.empty && !editor.isActive('link')) {
      // Nothing selected: insert the address itself as the link text.
      chain.insertContent({ type: 'text', text: input.value.trim(), marks: [{ type: 'link', attrs: { href } }] })
    } else {
      chain.extendMarkRange('link').setLink({ href })
    }
    chain.run()
    close()
  }

  apply.addEventListener('click', submit)
  remove.addEventListener('click', () => {
    editor.chain().focus().extendMarkRange('link').unsetLink().run()
    close()
  })
  cancel.addEventListener('click', () => close())
  element.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      event.preventDefault()
      close(false)
      getButton().focus() // back where the person came from
    } else if (event.key === 'Enter' && event.target === input) {
      event.preventDefault()
      submit()
    }
  })
  return { element, open, close: () => close(false) }
}
