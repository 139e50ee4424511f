// Rendering a release note: pure functions, no host imports, so that
// `node --test` runs render.test.js with the machine's own Node.

export const DEFAULT_TEMPLATE = `# {{title}}

Released {{date}}.

{{changes}}

## Artifacts

{{artifacts}}
`;

// Conventional-commit types and their headings, in display order.
const GROUPS = [
  ['feat', 'Features'],
  ['fix', 'Fixes'],
  ['perf', 'Performance'],
  ['docs', 'Documentation'],
];

/** Groups change lines (`feat(cli): add --json`) under headings, as Markdown. */
export function renderChanges(lines) {
  const groups = new Map(GROUPS.map(([, heading]) => [heading, []]));
  groups.set('Other changes', []);
  for (const raw of lines) {
    const line = raw.trim();
    if (!line) continue;
    const m = /^(\w+)(\([^)]*\))?!?:\s*(.+)$/.exec(line);
    const known = m && GROUPS.find(([type]) => type === m[1].toLowerCase());
    if (known) groups.get(known[1]).push(m[3]);
    else groups.get('Other changes').push(line);
  }
  const parts = [];
  for (const [heading, items] of groups) {
    if (items.length) parts.push(`## ${heading}\n\n${items.map((i) => `- ${i}`).join('\n')}`);
  }
  return parts.length ? parts.join('\n\n') : 'No changes listed.';
}

/** A size in B, KiB, MiB. */
export function humanSize(bytes) {
  const n = Number(bytes);
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

/** A Markdown table of artifacts (`{ reference, digest, size, kind }`). */
export function renderArtifacts(list) {
  if (!list.length) return 'No artifacts.';
  const rows = list.map((a) => {
    const name = a.reference.slice(a.reference.lastIndexOf('/') + 1);
    const kind = a.kind === 'directory' ? ' (folder)' : '';
    return `| \`${name}\`${kind} | ${humanSize(a.size)} | \`${a.digest.replace(/^sha256:/, '')}\` |`;
  });
  return ['| artifact | size | sha256 |', '| --- | --- | --- |', ...rows].join('\n');
}

/** Fills `{{name}}` placeholders; an unknown one is an error naming it. */
export function fill(template, values) {
  return template.replace(/\{\{\s*([\w-]+)\s*\}\}/g, (_, key) => {
    if (!(key in values)) {
      throw new Error(`unknown placeholder {{${key}}} (known: ${Object.keys(values).join(', ')})`);
    }
    return values[key];
  });
}
