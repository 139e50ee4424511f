// The `lines` stage with @baton/stage: every file of the project matching
// `include` is read; a JSON report of over-long lines is published; the
// step fails naming each `file:line`.
import { stage, Fail, src, workspace, publish, progress } from '../../../plugins/js/stage/index.js';

export const plugin = stage({
  name: 'lines',
  version: '0.1.0',
  description: 'fails on lines longer than `max`',
  config: {
    include: { type: 'array', items: { type: 'string' }, default: ['**/*'], description: 'glob patterns under /src' },
    max: { type: 'integer', minimum: 1, default: 80, description: 'longest line allowed' },
    report: { type: 'string', default: 'lines.json', description: 'artifact name of the JSON report' },
  },
  run(config) {
    const files = [...new Set(config.include.flatMap((p) => src.glob(p)))].sort();
    const long = [];
    files.forEach((path, i) => {
      progress(i, files.length, path);
      src.readText(path).split(/\r?\n/).forEach((line, n) => {
        if (line.length > config.max) long.push({ file: path, length: line.length, line: n + 1 });
      });
    });
    progress(files.length, files.length, 'done');
    const report = { files: files.length, long, max: config.max };
    workspace.write(config.report, JSON.stringify(report, null, 2) + '\n');
    publish(config.report, config.report);
    if (long.length) throw new Fail(`${long.length} line(s) over ${config.max}: ${long.map((l) => `${l.file}:${l.line}`).join(', ')}`);
  },
});
