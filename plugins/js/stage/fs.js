// Files of the stage's world for JavaScript stages: `src` (the project,
// read-only at /src) and `workspace` (read-write at /workspace).
// StarlingMonkey has no `fs` module, so this goes through the
// `wasi:filesystem` imports; paths are relative to the folder (a leading
// `/src/` or `/workspace/` is accepted), errors name the path and the WASI code.

import { getDirectories } from 'wasi:filesystem/preopens@0.2.12';
import { HostError } from './errors.js';

const CHUNK = 64 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function fail(action, path, e) {
  const code = e && e.payload !== undefined ? e.payload : String(e);
  return new HostError(`cannot ${action} ${path}: ${code}`, String(code), String(code));
}

/** `**` matches any number of folders, `*` and `?` stay within one. */
export function globRegExp(pattern) {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*' && pattern[i + 1] === '*') {
      i++;
      if (pattern[i + 1] === '/') {
        i++;
        re += '(?:.*/)?';
      } else {
        re += '.*';
      }
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export class Dir {
  constructor(root) {
    this.root = root;
    this.fd = undefined;
  }

  descriptor() {
    if (!this.fd) {
      const found = getDirectories().find(([, path]) => path === this.root);
      if (!found) throw new HostError(`no ${this.root} preopen: is this running as a baton stage?`);
      this.fd = found[0];
    }
    return this.fd;
  }

  relative(path) {
    const rel = String(path).replace(new RegExp(`^${this.root}/?`), '');
    if (rel.startsWith('/') || rel.split('/').includes('..')) {
      throw new HostError(`${path}: must be a path inside ${this.root}, without \`..\``);
    }
    return rel;
  }

  /** The bytes of a file. */
  readBytes(path) {
    let file;
    try {
      file = this.descriptor().openAt({ symlinkFollow: true }, this.relative(path), {}, { read: true });
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

  /** The text of a file (UTF-8). */
  readText(path) {
    return decoder.decode(this.readBytes(path));
  }

  /** Writes text or bytes to a file, creating its folders. */
  write(path, data) {
    const rel = this.relative(path);
    const slash = rel.lastIndexOf('/');
    if (slash > 0) this.mkdirs(rel.slice(0, slash));
    let file;
    try {
      file = this.descriptor().openAt({}, rel, { create: true, truncate: true }, { write: true });
    } catch (e) {
      throw fail('write', path, e);
    }
    const bytes = typeof data === 'string' ? encoder.encode(data) : data;
    let offset = 0;
    while (offset < bytes.length) {
      offset += Number(file.write(bytes.subarray(offset), BigInt(offset)));
    }
  }

  writeText(path, text) {
    this.write(path, text);
  }

  /** Creates a folder and its parents. */
  mkdirs(path) {
    let sofar = '';
    for (const part of this.relative(path).split('/').filter(Boolean)) {
      sofar = sofar ? `${sofar}/${part}` : part;
      try {
        this.descriptor().createDirectoryAt(sofar);
      } catch (e) {
        if (e.payload !== 'exist') throw fail('create folder', sofar, e);
      }
    }
  }

  /** Whether a path exists. */
  exists(path) {
    try {
      this.descriptor().statAt({}, this.relative(path));
      return true;
    } catch (e) {
      if (e.payload === 'no-entry') return false;
      throw fail('stat', path, e);
    }
  }

  /** The entries of a folder, sorted: `{ name, type }` (`directory`, `regular-file`...). */
  entries(path = '.') {
    const rel = this.relative(path);
    let dir;
    try {
      dir = rel === '' || rel === '.' ? this.descriptor() : this.descriptor().openAt({}, rel, { directory: true }, { read: true });
    } catch (e) {
      throw fail('list', path, e);
    }
    const out = [];
    try {
      const stream = dir.readDirectory();
      for (let entry = stream.readDirectoryEntry(); entry; entry = stream.readDirectoryEntry()) out.push(entry);
    } catch (e) {
      throw fail('list', path, e);
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** The names in a folder, sorted. */
  list(path = '.') {
    return this.entries(path).map((e) => e.name);
  }

  /** Files matching a glob (`**` crosses folders), sorted, relative to the folder. */
  glob(pattern) {
    const re = globRegExp(this.relative(pattern));
    const found = [];
    const walk = (rel) => {
      for (const e of this.entries(rel || '.')) {
        const path = rel ? `${rel}/${e.name}` : e.name;
        if (e.type === 'directory') walk(path);
        else if (e.type === 'regular-file' && re.test(path)) found.push(path);
      }
    };
    walk('');
    return found.sort();
  }
}

export const src = new Dir('/src');
export const workspace = new Dir('/workspace');
