// The Node this project needs, checked before anything that would fail on an older one with a
// stack trace that never says which Node is needed (`npm start`: ERR_UNKNOWN_FILE_EXTENSION on a
// .ts file; `npm test`: vitest's "Map.groupBy is not a function"). The version is package.json's
// `engines.node`, read here so that the two cannot disagree. Plain JavaScript, imported or run by
// node directly, so that it parses on that older Node and can say so in one line.
import { readFileSync } from 'node:fs';

const engines = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).engines.node;
const needed = /^>=(\d+)\.(\d+)$/.exec(engines);
if (!needed)
  throw new Error(
    `package.json engines.node is ${JSON.stringify(engines)}; scripts/check-node.js reads only ">=MAJOR.MINOR"`,
  );
const [major, minor] = process.versions.node.split('.').map(Number);
const [wantMajor, wantMinor] = [Number(needed[1]), Number(needed[2])];
if (major < wantMajor || (major === wantMajor && minor < wantMinor)) {
  process.stderr.write(
    `sidecar: Node ${process.versions.node} is too old: Node ${wantMajor}.${wantMinor} or later is needed (README, "Commands")\n`,
  );
  process.exit(1);
}
