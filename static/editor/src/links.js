// Which link targets the editor accepts. The server sanitises again (nh3, same schemes): this is
// for the person typing, so that a refused address is said at once rather than dropped later.

const ALLOWED_SCHEMES = /^(https?:\/\/|mailto:)/i
const ANY_SCHEME = /^[a-z][a-z0-9+.-]*:/i

/**
 * Link targets we accept: http(s) and mailto only (no javascript:, data:, tel:, ftp:, …).
 * A pasted `www.example.org` has no scheme yet (its href gets https:// added), so it passes.
 */
export function isAllowedLink (url) {
  if (typeof url !== 'string') return false
  const trimmed = url.replace(/\s/g, '')
  return ALLOWED_SCHEMES.test(trimmed) || (trimmed !== '' && !ANY_SCHEME.test(trimmed))
}

const EMAIL = /^[^\s@/:]+@[^\s@/:]+\.[^\s@/:]+$/

/** A full http(s) or mailto URL from what was typed in the link form, or null if it cannot be one. */
export function normaliseLink (typed) {
  const text = typed.trim()
  if (text === '' || /\s/.test(text)) return null
  let url = text
  if (EMAIL.test(text)) url = 'mailto:' + text
  else if (!ANY_SCHEME.test(text)) url = 'https://' + text
  if (!ALLOWED_SCHEMES.test(url)) return null
  try {
    const parsed = new URL(url)
    if (parsed.protocol === 'mailto:') return EMAIL.test(decodeURIComponent(parsed.pathname)) ? url : null
    return parsed.hostname.includes('.') || parsed.hostname === 'localhost' ? url : null
  } catch {
    return null
  }
}
