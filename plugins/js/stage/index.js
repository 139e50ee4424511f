// @baton/stage: write baton stage plugins in JavaScript without raw bindings.
//
//   import { stage, Fail, src, workspace, publish, progress } from '../stage/index.js';
//   export const plugin = stage({
//     name: 'lines', version: '0.1.0', description: 'fails on over-long lines',
//     config: { include: { type: 'array', items: { type: 'string' }, default: ['**/*'] },
//               max: { type: 'integer', minimum: 1, default: 80 } },
//     run(config, info) { ... throw new Fail('a.py:3 is too long'); },
//   });
//
// Why: the config spec is declared once and gives both the JSON Schema
// `describe()` returns (what `baton check` enforces) and the checked config
// `run` gets; host calls throw `HostError`s carrying the host's message
// (not `[object Object]`); anything escaping `run` becomes the step's
// failure with its name, message and the stage's file:line.

import { log as hostLog, progress as hostProgress } from 'baton:stage/log@0.1.1';
import { run as hostRun, spawn as hostSpawn } from 'baton:stage/process@0.1.1';
import { get, list, put } from 'baton:stage/artifacts@0.1.1';
import { ConfigError, configSchema, parseConfig } from './config.js';
import { Fail, HostError, escapedHeadline, stageLocation } from './errors.js';
import { Dir, globRegExp, src, workspace } from './fs.js';

export { ConfigError, configSchema, parseConfig, Fail, HostError, escapedHeadline, stageLocation, Dir, globRegExp, src, workspace };

/** `log.info('...')` and friends: lines in the step's log. */
export const log = Object.fromEntries(
  ['trace', 'debug', 'info', 'warn', 'error'].map((level) => [level, (message) => hostLog(level, String(message))]),
);

/** Reports `done` of `total` (the live view shows it). */
export function progress(done, total, message = '') {
  hostProgress(BigInt(done), BigInt(total), String(message));
}

// How the host's error variants read (the wording of the Rust SDK).
const ARTIFACT_WORDS = {
  'invalid-name': 'invalid artifact name',
  'invalid-path': 'invalid path',
  'not-found': 'artifact not found',
  'never-published': 'artifact never published',
  corrupt: 'corrupt artifact',
  io: 'artifact i/o error',
};
const PROCESS_WORDS = { 'not-found': 'not found', 'invalid-cwd': 'invalid cwd' };

function hostError(action, e, words = PROCESS_WORDS) {
  const p = e && e.payload;
  if (p && typeof p === 'object' && 'tag' in p) {
    return new HostError(`${action}: ${words[p.tag] ?? p.tag.replace(/-/g, ' ')}: ${p.val}`, p.tag, p.val);
  }
  return e instanceof Error ? e : new HostError(`${action}: ${String(e)}`);
}

/** Publishes a workspace file or folder as artifact `name`. */
export function publish(name, path) {
  try {
    return put(String(name), String(path));
  } catch (e) {
    throw hostError(`cannot publish ${path} as ${name}`, e, ARTIFACT_WORDS);
  }
}

/** Fetches artifact `board.step/name` into the workspace (at `dest`, by default its name). */
export function fetch(reference, dest) {
  const to = dest ?? reference.slice(reference.lastIndexOf('/') + 1);
  try {
    return get(String(reference), String(to));
  } catch (e) {
    throw hostError(`cannot fetch ${reference}`, e, ARTIFACT_WORDS);
  }
}

/** The artifacts published so far in the run. */
export function artifacts() {
  try {
    return list();
  } catch (e) {
    throw hostError('cannot list artifacts', e, ARTIFACT_WORDS);
  }
}

/** What a finished process did. */
export class Output {
  constructor(out) {
    this.code = out.status.tag === 'exited' ? out.status.val : null;
    this.signal = out.status.tag === 'signaled' ? out.status.val : null;
    this.timedOut = out.status.tag === 'timed-out';
    this.stdout = out.stdout;
    this.stderr = out.stderr;
  }
  get ok() {
    return this.code === 0;
  }
  text(stream = 'stdout') {
    return new TextDecoder().decode(this[stream]);
  }
  describe() {
    if (this.code !== null) return `exited with code ${this.code}`;
    if (this.signal !== null) return `was killed by signal ${this.signal}`;
    return 'timed out';
  }
}

function command(program, args, { env = {}, cwd, timeoutMs, stdin } = {}) {
  return {
    program: String(program),
    args: args.map(String),
    env: Object.entries(env),
    cwd,
    timeoutMs: timeoutMs === undefined ? undefined : BigInt(timeoutMs),
    stdin: typeof stdin === 'string' ? new TextEncoder().encode(stdin) : stdin,
  };
}

/** Runs a program (on the step's `spawn` allow-list): `run('git', ['log'], { cwd, env, check: true })`. */
export function run(program, args = [], options = {}) {
  let out;
  try {
    out = new Output(hostRun(command(program, args, options)));
  } catch (e) {
    throw hostError(`cannot run \`${program}\``, e);
  }
  if (options.check && !out.ok) {
    const tail = out.text('stderr').trim().split('\n').slice(-3).join(' / ');
    throw new Fail(`\`${program}\` ${out.describe()}${tail ? `: ${tail}` : ''}`);
  }
  return out;
}

/** Starts a program: `{ pid, read(), wait(), kill() }`. */
export function spawn(program, args = [], options = {}) {
  let child;
  try {
    child = hostSpawn(command(program, args, options));
  } catch (e) {
    throw hostError(`cannot spawn \`${program}\``, e);
  }
  return {
    pid: child.pid(),
    read: () => child.read(),
    wait: () => {
      try {
        return new Output(child.wait());
      } catch (e) {
        throw hostError(`cannot wait for \`${program}\``, e);
      }
    },
    kill: () => child.kill(),
  };
}

/** The `plugin` export of a stage: `export const plugin = stage({ name, version, description, config, run })`. */
export function stage({ name, version, description = '', config, run: body }) {
  const schema = config ? JSON.stringify(configSchema(config)) : undefined;
  return {
    describe() {
      return { name, version, description, configSchema: schema };
    },
    run(info) {
      let c;
      try {
        c = config ? parseConfig(config, info.config) : JSON.parse(info.config || '{}');
      } catch (e) {
        throw { tag: 'invalid-config', val: e.message };
      }
      try {
        body(c, info);
      } catch (e) {
        if (e instanceof ConfigError) throw { tag: 'invalid-config', val: e.message };
        if (e instanceof Fail) throw { tag: 'failed', val: e.message };
        if (e && e.stack) hostLog('error', String(e.stack));
        throw { tag: 'failed', val: escapedHeadline(e) };
      }
    },
  };
}
