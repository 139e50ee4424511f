// The pure parts of @baton/stage under node: schema from a config spec,
// config checking, glob patterns, escaped-error headlines.
import test from 'node:test';
import assert from 'node:assert/strict';
import { configSchema, parseConfig, ConfigError } from './config.js';
import { escapedHeadline, stageLocation } from './errors.js';

const spec = {
  version: { type: 'string', required: true },
  max: { type: 'integer', minimum: 1, default: 80 },
  publish: { oneOf: [{ type: 'string' }, { const: false }] },
};

test('the schema is derived from the spec', () => {
  assert.deepEqual(configSchema(spec), {
    type: 'object',
    additionalProperties: false,
    required: ['version'],
    properties: { version: { type: 'string' }, max: { type: 'integer', minimum: 1, default: 80 }, publish: { oneOf: [{ type: 'string' }, { const: false }] } },
  });
});

test('the config is checked and filled', () => {
  assert.deepEqual(parseConfig(spec, '{"version":"1"}'), { version: '1', max: 80 });
  for (const [text, message] of [
    ['{"version":"1","maxx":2}', 'unknown key `maxx` (expected one of: version, max, publish)'],
    ['{}', 'missing key `version`'],
    ['{"version":1}', '`version` must be a string, not an integer'],
    ['{"version":"1","max":0}', '`max` must be at least 1'],
    ['{"version":"1","publish":true}', '`publish` must be a string or false, not a boolean'],
  ]) {
    assert.throws(() => parseConfig(spec, text), (e) => e instanceof ConfigError && e.message === message);
  }
});

test('an escaped error names the stage line, not the SDK', () => {
  const e = new TypeError('o is null');
  e.stack = 'label@/tmp/x/sources/stage/index.js:10:3\nrun@/tmp/x/sources/lines/index.js:55:25\n';
  assert.equal(escapedHeadline(e), 'TypeError: o is null (at index.js:55:25)');
  assert.equal(stageLocation('  at run (/a/b/app.js:3:9)'), 'app.js:3:9');
  assert.equal(escapedHeadline({ tag: 'x' }), 'stage threw {"tag":"x"}');
});
