// Unit tests of render.js: `node --test plugins/js/` (scripts/build-plugins.sh runs them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fill, humanSize, renderArtifacts, renderChanges } from './render.js';

test('changes are grouped by conventional-commit type', () => {
  const md = renderChanges(['feat(cli): add --json', 'fix: no crash on empty input', 'Bump deps', '', 'feat!: new format']);
  assert.equal(
    md,
    '## Features\n\n- add --json\n- new format\n\n## Fixes\n\n- no crash on empty input\n\n## Other changes\n\n- Bump deps',
  );
  assert.equal(renderChanges([]), 'No changes listed.');
});

test('artifacts become a table with sizes and digests', () => {
  const md = renderArtifacts([
    { reference: 'linux.build/app.tar', digest: 'sha256:ab12', size: 2048n, kind: 'file' },
    { reference: 'linux.docs/site', digest: 'sha256:cd34', size: 10n, kind: 'directory' },
  ]);
  assert.match(md, /\| `app.tar` \| 2.0 KiB \| `ab12` \|/);
  assert.match(md, /\| `site` \(folder\) \| 10 B \| `cd34` \|/);
  assert.equal(humanSize(3 * 1024 * 1024), '3.0 MiB');
});

test('placeholders are filled and unknown ones named', () => {
  assert.equal(fill('v{{version}} {{ title }}', { version: '1', title: 't' }), 'v1 t');
  assert.throws(() => fill('{{nope}}', { version: '1' }), /unknown placeholder \{\{nope\}\} \(known: version\)/);
});
