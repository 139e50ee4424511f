// The errors a stage raises or meets, and the headline of one escaping
// `run`: its name, message and the stage's own file:line, from `e.stack`
// (componentize-js frames read `fn@/path/index.js:55:25`).

export class Fail extends Error {
  constructor(message) {
    super(message);
    this.name = 'Fail';
  }
}

/** A host call (artifact, process, file) was refused or failed; the message
 * says what was attempted and the host's own words. `kind` is the host's
 * variant (`not-found`, `denied`...), `hostMessage` its text. */
export class HostError extends Error {
  constructor(message, kind = '', hostMessage = '') {
    super(message);
    this.name = 'HostError';
    this.kind = kind;
    this.hostMessage = hostMessage;
  }
}

const SDK_FILES = /\/stage\/(index|fs|config|errors)\.js:/;

/** `index.js:55:25`: the first frame of the stack outside this package. */
export function stageLocation(stack) {
  for (const line of String(stack || '').split('\n')) {
    const at = line.lastIndexOf('@');
    const place = (at >= 0 ? line.slice(at + 1) : line.replace(/^\s*at\s+(.*\()?/, '').replace(/\)$/, '')).trim();
    if (!/:\d+:\d+$/.test(place) || SDK_FILES.test(place)) continue;
    return place.slice(place.lastIndexOf('/') + 1);
  }
  return null;
}

/** The failure message for anything thrown out of `run`. */
export function escapedHeadline(e) {
  if (e instanceof Error) {
    const text = e.message ? `${e.name}: ${e.message}` : e.name;
    const where = stageLocation(e.stack);
    return where ? `${text} (at ${where})` : text;
  }
  if (e && typeof e === 'object' && 'payload' in e) return `host error: ${JSON.stringify(e.payload)}`;
  try {
    return `stage threw ${typeof e === 'string' ? e : JSON.stringify(e)}`;
  } catch {
    return `stage threw ${String(e)}`;
  }
}
