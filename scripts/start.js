// `npm start`, on any Node: Node 22.18 and later run the TypeScript sources directly (type
// stripping, on by default since 22.18); an older one would stop on ERR_UNKNOWN_FILE_EXTENSION
// with a stack trace that never says which Node is needed. Plain JavaScript, so that it parses
// on that older Node and can say so in one line.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `sidecar: Node ${process.versions.node} is too old: Node 22.18 or later is needed (it runs the .ts sources directly)\n`,
  );
  process.exit(1);
}
await import('./demo.ts');
