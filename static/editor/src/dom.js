// Tiny DOM helpers. Everything is built with createElement/textContent: no innerHTML, so text
// that comes from the document or from other people (names, choice labels) can never become markup,
// and no style attribute is ever written (the page's CSP forbids inline styles; colours go through
// the CSSOM, `element.style.x = …`, which the CSP allows).

/**
 * @param {string} tag
 * @param {Record<string, string | boolean | number | null | undefined>} [attrs]
 * @param {...(Node | string)} children
 */
export function h (tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue
    if (name === 'style') throw new Error('style attributes are blocked by the CSP: use the CSSOM')
    el.setAttribute(name, value === true ? '' : String(value))
  }
  el.append(...children)
  return el
}

let counter = 0

/** A page-unique id built from a readable stem (question keys contain dots). */
export function uid (stem) {
  counter += 1
  return `ed-${String(stem).replace(/[^A-Za-z0-9_-]/g, '-')}-${counter}`
}
