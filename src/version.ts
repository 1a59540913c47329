/** The sidecar's version, shown on the status page; test/status-page.test.ts holds it to package.json. */
export const version = '0.1.0';
