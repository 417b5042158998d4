// Short answers, each an entry of the root Y.Map('answers') keyed by the question key:
// texte_court / url → string, indicateur → number, date → "YYYY-MM-DD", oui_non → boolean,
// choix_unique → choice key, choix_multiple → array of choice keys. An emptied answer is written as
// '' / null / [] rather than deleted: a deletion does not advance our clock, so the save status
// could not prove it durable from the server's state vector (see save-status.js).
//
// Each value is one atomic entry, so concurrent edits resolve as "last writer wins", which is what
// a person expects of a single field. Every widget writes with itself as the transaction origin and
// ignores changes carrying that origin: no echo loop.
import { h, uid } from './dom.js'

const DEBOUNCE_MS = 250 // coalesce keystrokes into one update, still well under a perceptible delay

const BUILDERS = {
  texte_court: (q, io) => textInput(q, io, { type: 'text', autocomplete: 'off' }),
  url: (q, io) => textInput(q, io, { type: 'url', inputmode: 'url', autocomplete: 'url', spellcheck: 'false' }),
  date: (q, io) => textInput(q, io, { type: 'date' }, {
    parse: (input) => (/^\d{4}-\d{2}-\d{2}$/.test(input.value) ? input.value : input.value === '' ? null : undefined),
    format: (value) => (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(value) ? value : '')
  }),
  indicateur: (q, io) => textInput(q, io, { type: 'number', step: 'any', inputmode: 'decimal' }, {
    // `badInput` is a half-typed number ("-", "1e"): write nothing until it means something.
    parse: (input) => (input.validity.badInput ? undefined : input.value === '' ? null : input.valueAsNumber),
    format: (value) => (typeof value === 'number' && Number.isFinite(value) ? String(value) : ''),
    same: (input, value) => input.valueAsNumber === value || (input.value === '' && value == null)
  }),
  oui_non: (q, io) => choices(q, io, 'radio', [{ cle: true, libelle: 'Oui' }, { cle: false, libelle: 'Non' }]),
  choix_unique: (q, io) => choices(q, io, 'radio', q.choices),
  choix_multiple: (q, io) => choices(q, io, 'checkbox', q.choices)
}

/** Types with a widget here (`texte` is rich text; piece_jointe and actions keep their read view). */
export const SHORT_TYPES = new Set(Object.keys(BUILDERS))

/**
 * @param {{ key: string, type: string, labelId: string, choices: {cle: string, libelle: string}[], unit: string }} question
 * @param {import('yjs').Map<any>} answers
 */
export function createField (question, answers) {
  const build = BUILDERS[question.type]
  if (!build) return null
  const io = {
    read: () => answers.get(question.key),
    write (value, origin) {
      if (same(answers.get(question.key), value)) return
      answers.doc.transact(() => answers.set(question.key, value), origin)
    }
  }
  const field = build(question, io)
  if (field) field.render(io.read())
  return field
}

/** Route every change of the answers map to the widget of its key, except its own writes. */
export function watchAnswers (answers, fields) {
  answers.observe((event) => {
    for (const key of event.keysChanged) {
      const field = fields.get(key)
      if (field && event.transaction.origin !== field) field.render(answers.get(key))
    }
  })
}

function same (a, b) {
  return a === b || (Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => x === b[i]))
}

function textInput (q, io, attrs, codec = {}) {
  const parse = codec.parse || ((input) => input.value)
  const format = codec.format || ((value) => (typeof value === 'string' ? value : ''))
  const isSame = codec.same || ((input, value) => input.value === format(value))
  const input = h('input', { ...attrs, id: uid(q.key), class: `editor__input editor__input--${q.type}`, 'aria-labelledby': q.labelId })
  const element = h('div', { class: `editor editor--field editor--${q.type}` }, input)
  if (q.type === 'indicateur' && q.unit) {
    const unit = h('span', { class: 'editor__unit', id: input.id + '-unite' }, q.unit)
    input.setAttribute('aria-describedby', unit.id)
    element.append(unit)
  }
  let timer = null
  const field = {
    element,
    flush () {
      clearTimeout(timer)
      timer = null
      const value = parse(input)
      if (value !== undefined) io.write(value, field)
    },
    render (value) {
      // An edit of ours is about to be written: it will overwrite this one (last writer wins).
      if (timer !== null || isSame(input, value)) return
      const text = format(value)
      const keepCaret = document.activeElement === input && typeof input.selectionStart === 'number' && q.type !== 'indicateur' && q.type !== 'date'
      const [start, end] = keepCaret ? [input.selectionStart, input.selectionEnd] : [0, 0]
      input.value = text
      if (keepCaret) input.setSelectionRange(Math.min(start, text.length), Math.min(end, text.length))
    },
    setEditable (editable) {
      input.disabled = !editable
    }
  }
  input.addEventListener('input', () => {
    clearTimeout(timer)
    timer = setTimeout(() => field.flush(), DEBOUNCE_MS)
  })
  input.addEventListener('change', () => field.flush())
  input.addEventListener('blur', () => field.flush())
  return field
}

function choices (q, io, kind, options) {
  if (!options || options.length === 0) return null
  const name = uid(q.key)
  const group = h('fieldset', { class: `editor editor--field editor--${q.type} editor__choices`, 'aria-labelledby': q.labelId })
  const inputs = options.map((option, index) => {
    const input = h('input', { type: kind, name, id: `${name}-${index}`, value: String(option.cle) })
    group.append(h('div', { class: 'editor__choice' }, input, h('label', { for: input.id }, String(option.libelle))))
    return { input, key: option.cle }
  })
  const field = {
    element: group,
    render (value) {
      for (const { input, key } of inputs) {
        input.checked = kind === 'radio' ? value === key : Array.isArray(value) && value.includes(key)
      }
    },
    setEditable (editable) {
      group.disabled = !editable
    }
  }
  group.addEventListener('change', () => {
    const checked = inputs.filter(({ input }) => input.checked).map(({ key }) => key)
    io.write(kind === 'radio' ? (checked.length ? checked[0] : null) : checked, field)
  })
  return field
}
