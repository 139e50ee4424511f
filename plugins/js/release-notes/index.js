// baton stage `release-notes`: fetches a release's artifacts into the
// workspace and renders a Markdown release note listing them (name, size,
// sha256) and the changes since the last release, then publishes it.
//
//   [[boards.release.steps]]
//   name = "notes"
//   plugin = "release-notes"
//   after = ["linux.package"]
//   with = { version = "1.4.0", artifacts = ["linux.package/app.tar"], changes = ["git", "log", "--format=%s", "v1.3.0..HEAD"] }
//
// Keys of `with`:
// - `version` (required): the release's version.
// - `title`: the note's title (default `Release <version>`).
// - `artifacts`: references (`board.step/name`) fetched into `dir`; default:
//   every artifact published so far in the run.
// - `dir`: where artifacts are fetched (default `release`).
// - `changes`: a program and its arguments (on the step's `spawn`
//   allow-list) whose output lines are the changes, grouped by
//   conventional-commit type (`feat:`, `fix:`...).
// - `template`: a workspace file with `{{title}}`, `{{version}}`,
//   `{{date}}`, `{{changes}}`, `{{artifacts}}` (default: a built-in one).
// - `date`: the release date (default: today, UTC).
// - `output`: where the note is written (default `RELEASE_NOTES.md`).
// - `publish`: the note's artifact name (default: the output's file name),
//   or `false` not to publish it.

import { log, progress } from 'baton:stage/log@0.1.1';
import { run as runProcess } from 'baton:stage/process@0.1.1';
import { get, list, put } from 'baton:stage/artifacts@0.1.1';
import { readText, writeText } from '../lib/fs.js';
import { DEFAULT_TEMPLATE, fill, renderArtifacts, renderChanges } from './render.js';

const KEYS = ['version', 'title', 'artifacts', 'dir', 'changes', 'template', 'date', 'output', 'publish'];

const SCHEMA = JSON.stringify({
  type: 'object',
  required: ['version'],
  additionalProperties: false,
  properties: {
    version: { type: 'string' },
    title: { type: 'string' },
    artifacts: { type: 'array', items: { type: 'string' } },
    dir: { type: 'string' },
    changes: { type: 'array', items: { type: 'string' }, minItems: 1 },
    template: { type: 'string' },
    date: { type: 'string' },
    output: { type: 'string' },
    publish: { oneOf: [{ type: 'string' }, { const: false }] },
  },
});

class ConfigError extends Error {}

export const plugin = {
  describe() {
    return {
      name: 'release-notes',
      version: '0.1.0',
      description: 'renders a Markdown release note from the release artifacts and the change log',
      configSchema: SCHEMA,
    };
  },

  run(info) {
    let config;
    try {
      config = parseConfig(info.config);
    } catch (e) {
      throw { tag: 'invalid-config', val: e.message };
    }
    try {
      release(config);
    } catch (e) {
      throw { tag: 'failed', val: describe(e) };
    }
  },
};

function parseConfig(text) {
  const c = JSON.parse(text || '{}');
  for (const key of Object.keys(c)) {
    if (!KEYS.includes(key)) throw new ConfigError(`unknown key \`${key}\` (expected one of: ${KEYS.join(', ')})`);
  }
  if (typeof c.version !== 'string' || !c.version) throw new ConfigError('`version` is required (a string, e.g. "1.4.0")');
  for (const key of ['title', 'dir', 'template', 'date', 'output']) {
    if (key in c && typeof c[key] !== 'string') throw new ConfigError(`\`${key}\` must be a string`);
  }
  for (const key of ['artifacts', 'changes']) {
    if (key in c && !(Array.isArray(c[key]) && c[key].every((v) => typeof v === 'string'))) {
      throw new ConfigError(`\`${key}\` must be a list of strings`);
    }
  }
  if (c.changes && !c.changes.length) throw new ConfigError('`changes` must name a program');
  if ('publish' in c && c.publish !== false && typeof c.publish !== 'string') {
    throw new ConfigError('`publish` must be an artifact name or false');
  }
  return c;
}

function release(c) {
  const dir = c.dir ?? 'release';
  const fetched = fetchAll(c.artifacts ?? list().map((a) => a.reference), dir);
  const changes = c.changes ? renderChanges(changeLines(c.changes)) : 'No changes listed.';
  const template = c.template ? readText(c.template) : DEFAULT_TEMPLATE;
  const note = fill(template, {
    title: c.title ?? `Release ${c.version}`,
    version: c.version,
    date: c.date ?? new Date().toISOString().slice(0, 10),
    changes,
    artifacts: renderArtifacts(fetched),
  });
  const output = c.output ?? 'RELEASE_NOTES.md';
  writeText(output, note);
  log('info', `wrote ${output} (${fetched.length} artifacts)`);
  if (c.publish !== false) {
    const name = c.publish ?? output.slice(output.lastIndexOf('/') + 1);
    let a;
    try {
      a = put(name, output);
    } catch (e) {
      throw new Error(`cannot publish ${output}: ${describe(e, ARTIFACT_ERRORS)}`);
    }
    log('info', `published ${a.reference} (${a.size} bytes)`);
  }
}

function fetchAll(references, dir) {
  const fetched = [];
  references.forEach((reference, i) => {
    progress(BigInt(i), BigInt(references.length), `fetching ${reference}`);
    const name = reference.slice(reference.lastIndexOf('/') + 1);
    try {
      fetched.push(get(reference, `${dir}/${name}`));
    } catch (e) {
      throw new Error(`cannot fetch ${reference}: ${describe(e, ARTIFACT_ERRORS)}`);
    }
    log('info', `fetched ${reference} into ${dir}/${name}`);
  });
  return fetched;
}

function changeLines(argv) {
  let out;
  try {
    out = runProcess({ program: argv[0], args: argv.slice(1), env: [], cwd: undefined, timeoutMs: undefined, stdin: undefined });
  } catch (e) {
    throw new Error(`cannot run \`${argv[0]}\`: ${describe(e, PROCESS_ERRORS)}`);
  }
  const text = new TextDecoder().decode(out.stdout);
  if (out.status.tag !== 'exited' || out.status.val !== 0) {
    const err = new TextDecoder().decode(out.stderr).trim().split('\n').slice(-3).join(' / ');
    throw new Error(`\`${argv.join(' ')}\` ${status(out.status)}${err ? `: ${err}` : ''}`);
  }
  return text.split('\n');
}

function status(s) {
  if (s.tag === 'exited') return `exited with code ${s.val}`;
  if (s.tag === 'signaled') return `was killed by signal ${s.val}`;
  return `timed out after ${s.val} ms`;
}

// How the host's error variants read (the wording of the Rust SDK).
const ARTIFACT_ERRORS = {
  'invalid-name': 'invalid artifact name',
  'invalid-path': 'invalid path',
  'not-found': 'artifact not found',
  'never-published': 'artifact never published',
  denied: 'denied',
  corrupt: 'corrupt artifact',
  limit: 'limit',
  io: 'artifact i/o error',
};
const PROCESS_ERRORS = { denied: 'denied', 'not-found': 'not found', 'invalid-cwd': 'invalid cwd', limit: 'limit' };

/** A host error (a `{ tag, val }` payload) as `artifact not found: ...`; others by message. */
function describe(e, words = {}) {
  const p = e && e.payload;
  if (p && typeof p === 'object' && 'tag' in p) return words[p.tag] ? `${words[p.tag]}: ${p.val}` : p.val;
  return e && e.message ? e.message : String(e);
}
