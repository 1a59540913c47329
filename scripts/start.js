// `npm start`, on any Node: the version check first (check-node.js), then the demo pod.
await import('./check-node.js');
await import('./demo.ts');
