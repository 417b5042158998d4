// Colours of people in the room. The server stamps each awareness state with the account's colour;
// this module only validates it (it ends up in the CSSOM and in ProseMirror decoration styles) and
// picks a readable text colour for name labels.

// Dark enough for white text at 4.5:1 or more (WCAG AA); used when no valid colour is stamped yet
// (our own state before the server's echo, or a server that does not stamp, like the reference one).
const FALLBACK = ['#12506b', '#8a3b12', '#1f6b3a', '#6b2c7a', '#8c1d40', '#4a5562', '#005f73', '#7a4d00']

const HEX = /^#(?:[0-9a-f]{3}|[0-9a-f]{6})$/i

/**
 * The stamped colour if it is a plain hex colour, else a fallback derived from the account id or
 * the name, so that one person has the same colour on every screen and in every tab.
 */
export function colourOf (user) {
  const colour = user && typeof user.color === 'string' ? user.color.trim() : ''
  if (HEX.test(colour)) return colour
  const seed = String(user && (user.id ?? user.name) || '')
  let hash = 0
  for (const char of seed) hash = (hash * 31 + char.codePointAt(0)) >>> 0
  return FALLBACK[hash % FALLBACK.length]
}

function channels (hex) {
  const full = hex.length === 4 ? hex.replace(/[0-9a-f]/gi, (c) => c + c).slice(1) : hex.slice(1)
  return [0, 2, 4].map((i) => parseInt(full.slice(i, i + 2), 16) / 255)
}

function luminance (hex) {
  const [r, g, b] = channels(hex).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4))
  return 0.2126 * r + 0.7152 * g + 0.0722 * b
}

/** Black or white, whichever contrasts more with `hex` (names are printed on the colour). */
export function textOn (hex) {
  const l = luminance(hex)
  return (1.05 / (l + 0.05)) >= ((l + 0.05) / 0.05) ? '#ffffff' : '#000000'
}

/** `#rrggbb` plus an alpha byte, for selection highlights; null when the colour is not 6-digit hex. */
export function translucent (hex, alpha = '40') {
  if (hex.length === 4) hex = '#' + hex.slice(1).replace(/./g, (c) => c + c)
  return /^#[0-9a-f]{6}$/i.test(hex) ? hex + alpha : null
}
