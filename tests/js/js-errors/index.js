// Test fixture: a @baton/stage stage whose errors escape `run`, chosen by
// `with = { escape = "…" }`: `host` (an invalid artifact name, refused by
// the host), `type` (a TypeError in the stage's code), `fail` (Fail("boom")).
import { stage, Fail, workspace, publish } from '../../../plugins/js/stage/index.js';

function label(o) {
  return o.name.toUpperCase();
}

export const plugin = stage({
  name: 'js-errors',
  version: '0.1.0',
  description: 'lets an error escape run',
  config: { escape: { type: 'string', required: true } },
  run(config) {
    if (config.escape === 'host') {
      workspace.write('out.txt', 'x');
      publish('no/slash', 'out.txt');
    } else if (config.escape === 'type') {
      label(null);
    } else if (config.escape === 'fail') {
      throw new Fail('boom');
    }
  },
});
