// Files in the workspace for JavaScript stages. StarlingMonkey has no `fs`
// module, so this goes through the `wasi:filesystem` imports of
// `../wit/world.wit`. Paths are relative to the workspace (a leading
// `/workspace/` is accepted too); errors name the path and the WASI code.

import { getDirectories } from 'wasi:filesystem/preopens@0.2.12';

const CHUNK = 64 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

let root;

function workspace() {
  if (!root) {
    const found = getDirectories().find(([, path]) => path === '/workspace');
    if (!found) throw new Error('no /workspace preopen: is this running as a baton stage?');
    root = found[0];
  }
  return root;
}

function relative(path) {
  const rel = path.replace(/^\/workspace\/?/, '');
  if (rel.startsWith('/') || rel.split('/').includes('..')) {
    throw new Error(`${path}: must be a path inside the workspace`);
  }
  return rel;
}

function fail(action, path, e) {
  const code = e && e.payload !== undefined ? e.payload : String(e);
  return new Error(`cannot ${action} ${path}: ${code}`);
}

/** The bytes of a workspace file. */
export function readBytes(path) {
  let file;
  try {
    file = workspace().openAt({ symlinkFollow: true }, relative(path), {}, { read: true });
  } catch (e) {
    throw fail('read', path, e);
  }
  const parts = [];
  let offset = 0n;
  for (;;) {
    const [data, eof] = file.read(BigInt(CHUNK), offset);
    parts.push(data);
    offset += BigInt(data.length);
    if (eof || data.length === 0) break;
  }
  const out = new Uint8Array(Number(offset));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The text of a workspace file (UTF-8). */
export function readText(path) {
  return decoder.decode(readBytes(path));
}

/** Writes `text` to a workspace file, creating its folders. */
export function writeText(path, text) {
  const rel = relative(path);
  const slash = rel.lastIndexOf('/');
  if (slash > 0) mkdirs(rel.slice(0, slash));
  let file;
  try {
    file = workspace().openAt({}, rel, { create: true, truncate: true }, { write: true });
  } catch (e) {
    throw fail('write', path, e);
  }
  const bytes = encoder.encode(text);
  let offset = 0;
  while (offset < bytes.length) {
    offset += Number(file.write(bytes.subarray(offset), BigInt(offset)));
  }
}

/** Creates a workspace folder and its parents. */
export function mkdirs(path) {
  let sofar = '';
  for (const part of relative(path).split('/').filter(Boolean)) {
    sofar = sofar ? `${sofar}/${part}` : part;
    try {
      workspace().createDirectoryAt(sofar);
    } catch (e) {
      if (e.payload !== 'exist') throw fail('create folder', sofar, e);
    }
  }
}

/** Whether a workspace path exists. */
export function exists(path) {
  try {
    workspace().statAt({}, relative(path));
    return true;
  } catch (e) {
    if (e.payload === 'no-entry') return false;
    throw fail('stat', path, e);
  }
}
