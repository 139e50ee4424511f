// The config of a stage declared once, as a spec: `{ key: { type, default,
// required, description, ... } }` (each entry a JSON Schema fragment). The
// JSON Schema that `describe()` returns (and `baton check` enforces) is
// derived from it, and the step's `with` is checked against it at run time
// with errors that name the key. No node or wasi import: unit-testable.

export class ConfigError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ConfigError';
  }
}

const OWN = ['required', 'default'];

/** The JSON Schema of `with` for a config spec. */
export function configSchema(spec) {
  const properties = {};
  const required = [];
  for (const [key, entry] of Object.entries(spec)) {
    const prop = {};
    for (const [k, v] of Object.entries(entry)) if (!OWN.includes(k)) prop[k] = v;
    if (entry.default !== undefined) prop.default = entry.default;
    if (entry.required) required.push(key);
    properties[key] = prop;
  }
  const schema = { type: 'object', additionalProperties: false, properties };
  if (required.length) schema.required = required;
  return schema;
}

function kind(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a number';
  if (typeof v === 'boolean') return 'a boolean';
  if (typeof v === 'string') return 'a string';
  return 'a table';
}

function hasType(v, type) {
  switch (type) {
    case 'string': return typeof v === 'string';
    case 'integer': return Number.isInteger(v);
    case 'number': return typeof v === 'number';
    case 'boolean': return typeof v === 'boolean';
    case 'array': return Array.isArray(v);
    case 'object': return v !== null && typeof v === 'object' && !Array.isArray(v);
    case 'null': return v === null;
    default: return false;
  }
}

const WORDS = { string: 'a string', integer: 'an integer', number: 'a number', boolean: 'true or false', array: 'a list', object: 'a table', null: 'null' };

/** Why `v` does not match schema fragment `s`, or null. */
function mismatch(where, s, v) {
  if (s.const !== undefined && v !== s.const) return `\`${where}\` must be ${JSON.stringify(s.const)}`;
  if (s.enum && !s.enum.includes(v)) return `\`${where}\` must be one of ${s.enum.map((e) => JSON.stringify(e)).join(', ')}`;
  for (const key of ['oneOf', 'anyOf']) {
    if (s[key] && s[key].every((alt) => mismatch(where, alt, v) !== null)) {
      return `\`${where}\` must be ${s[key].map((alt) => (alt.const !== undefined ? JSON.stringify(alt.const) : WORDS[alt.type] ?? 'valid')).join(' or ')}, not ${kind(v)}`;
    }
  }
  if (s.type) {
    const types = Array.isArray(s.type) ? s.type : [s.type];
    if (!types.some((t) => hasType(v, t))) return `\`${where}\` must be ${types.map((t) => WORDS[t]).join(' or ')}, not ${kind(v)}`;
  }
  if (typeof v === 'number' && s.minimum !== undefined && v < s.minimum) return `\`${where}\` must be at least ${s.minimum}`;
  if (typeof v === 'number' && s.maximum !== undefined && v > s.maximum) return `\`${where}\` must be at most ${s.maximum}`;
  if (Array.isArray(v)) {
    if (s.minItems !== undefined && v.length < s.minItems) return `\`${where}\` must have at least ${s.minItems} item(s)`;
    if (s.items) {
      for (let i = 0; i < v.length; i++) {
        const m = mismatch(`${where}[${i}]`, s.items, v[i]);
        if (m) return m;
      }
    }
  }
  return null;
}

/** The step's `with` (JSON text) checked against `spec`, defaults filled. */
export function parseConfig(spec, text) {
  let c;
  try {
    c = JSON.parse(text || '{}');
  } catch (e) {
    throw new ConfigError(`the config is not JSON: ${e.message}`);
  }
  if (!hasType(c, 'object')) throw new ConfigError(`\`with\` must be a table, not ${kind(c)}`);
  const keys = Object.keys(spec);
  for (const key of Object.keys(c)) {
    if (!keys.includes(key)) throw new ConfigError(`unknown key \`${key}\` (expected one of: ${keys.join(', ')})`);
  }
  const out = {};
  for (const [key, entry] of Object.entries(spec)) {
    if (!(key in c)) {
      if (entry.required) throw new ConfigError(`missing key \`${key}\``);
      if (entry.default !== undefined) out[key] = structuredClone(entry.default);
      continue;
    }
    const m = mismatch(key, entry, c[key]);
    if (m) throw new ConfigError(m);
    out[key] = c[key];
  }
  return out;
}
