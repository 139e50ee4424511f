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
import { Fail, artifacts, fetch, publish, run, stage, workspace } from '../stage/index.js';
import { DEFAULT_TEMPLATE, fill, renderArtifacts, renderChanges } from './render.js';

export const plugin = stage({
  name: 'release-notes',
  version: '0.1.0',
  description: 'renders a Markdown release note from the release artifacts and the change log',
  config: {
    version: { type: 'string', required: true },
    title: { type: 'string' },
    artifacts: { type: 'array', items: { type: 'string' } },
    dir: { type: 'string' },
    changes: { type: 'array', items: { type: 'string' }, minItems: 1 },
    template: { type: 'string' },
    date: { type: 'string' },
    output: { type: 'string' },
    publish: { oneOf: [{ type: 'string' }, { const: false }] },
  },
  run(config) {
    try {
      release(config);
    } catch (e) {
      // Every error of this stage is its verdict, worded for the reader.
      throw e instanceof Fail ? e : new Fail(e.message ?? String(e));
    }
  },
});

function release(c) {
  const dir = c.dir ?? 'release';
  const fetched = fetchAll(c.artifacts ?? artifacts().map((a) => a.reference), dir);
  const changes = c.changes ? renderChanges(changeLines(c.changes)) : 'No changes listed.';
  const template = c.template ? workspace.readText(c.template) : DEFAULT_TEMPLATE;
  const note = fill(template, {
    title: c.title ?? `Release ${c.version}`,
    version: c.version,
    date: c.date ?? new Date().toISOString().slice(0, 10),
    changes,
    artifacts: renderArtifacts(fetched),
  });
  const output = c.output ?? 'RELEASE_NOTES.md';
  workspace.write(output, note);
  log('info', `wrote ${output} (${fetched.length} artifacts)`);
  if (c.publish !== false) {
    const name = c.publish ?? output.slice(output.lastIndexOf('/') + 1);
    const a = publish(name, output);
    log('info', `published ${a.reference} (${a.size} bytes)`);
  }
}

function fetchAll(references, dir) {
  const fetched = [];
  references.forEach((reference, i) => {
    progress(BigInt(i), BigInt(references.length), `fetching ${reference}`);
    const name = reference.slice(reference.lastIndexOf('/') + 1);
    fetched.push(fetch(reference, `${dir}/${name}`));
    log('info', `fetched ${reference} into ${dir}/${name}`);
  });
  return fetched;
}

function changeLines(argv) {
  const out = run(argv[0], argv.slice(1));
  if (!out.ok) {
    const err = out.text('stderr').trim().split('\n').slice(-3).join(' / ');
    throw new Fail(`\`${argv.join(' ')}\` ${out.describe()}${err ? `: ${err}` : ''}`);
  }
  return out.text().split('\n');
}
