// The compression rows of `npm run bench` (issue 19): the app's 16 KiB HTML page through the Node
// sidecar with COMPRESS=gzip and with COMPRESS=br, beside nginx's `gzip on` at the sidecar's own
// gzip level, in the same run. Their load asks for the page with Accept-Encoding, and their
// table gives req/s and the bytes each response took on the wire (headers included).
import http from 'node:http';
import { defaultLevels } from '../runtimes/common/zlib-compressor.ts';
import type { Row } from './summary.ts';
import type { TargetDef } from './targets.ts';

/** The page the compression rows load (bench/upstream.ts), uncompressed 16384 bytes. */
export const PAGE_PATH = '/page16k';

const sidecarRow = (coding: 'gzip' | 'br'): TargetDef => ({
  name: `node-${coding}`,
  kind: 'sidecar',
  label: `sidecar on Node, COMPRESS=${coding}, 16 KiB HTML page`,
  needs: ['runtimes/node.ts'],
  argv: () => [process.execPath, 'runtimes/node.ts'],
  env: () => ({ COMPRESS: coding }),
  request: { path: PAGE_PATH, acceptEncoding: coding },
});

export const COMPRESSION_TARGETS: TargetDef[] = [
  sidecarRow('gzip'),
  sidecarRow('br'),
  {
    name: 'nginx-gzip',
    kind: 'peer',
    label: `nginx gzip on (gzip_comp_level ${defaultLevels.gzip}), 16 KiB HTML page`,
    needs: [],
    argv: () => [],
    request: { path: PAGE_PATH, acceptEncoding: 'gzip' },
  },
];

/** nginx's gzip level for the nginx-gzip row: the sidecar's (runtimes/common/zlib-compressor.ts). */
export const NGINX_GZIP_LEVEL = defaultLevels.gzip;

/** Checks a compression row answers its page with the coding asked for; throws if not. */
export function checkCompressed(port: number, def: TargetDef): Promise<void> {
  const request = def.request;
  if (!request) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const req = http.get(
      {
        host: '127.0.0.1',
        port,
        path: request.path,
        agent: false,
        headers: { 'accept-encoding': request.acceptEncoding },
      },
      (res) => {
        res.resume();
        const coding = res.headers['content-encoding'];
        res.on('end', () =>
          res.statusCode === 200 && coding === request.acceptEncoding
            ? resolve()
            : reject(
                new Error(
                  `GET ${request.path} answered ${res.statusCode} with Content-Encoding ${coding ?? 'none'}, expected ${request.acceptEncoding}`,
                ),
              ),
        );
      },
    );
    req.setTimeout(2000, () => req.destroy(new Error(`GET ${request.path}: no answer in 2 s`)));
    req.on('error', reject);
  });
}

/** The compression rows' table: req/s, bytes per response on the wire, and × nginx gzip. */
export function compressionTable(rows: Row[], table: (header: string[], body: string[][]) => string): string {
  const mine = rows.filter((r) => r.t.def.request !== undefined);
  if (mine.length === 0) return '';
  const nginx = mine.find((r) => r.t.def.name === 'nginx-gzip' && r.t.status === 'ok');
  const fmt = (n: number | undefined, digits = 0) => (n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits));
  return table(
    ['target', 'req/s', 'p99 ms', 'bytes/response', '×nginx gzip req/s', 'peak RSS MiB'],
    mine.map((r) =>
      r.t.status !== 'ok'
        ? [r.t.def.name, r.t.status.toUpperCase(), '', '', '', '']
        : [
            r.t.def.label,
            fmt(r.rps),
            fmt(r.p99Ms, 2),
            fmt(r.bytesPerResponse),
            nginx ? fmt(r.rps / nginx.rps, 2) : 'n/a',
            r.t.peakRssKiB === null ? '–' : fmt(r.t.peakRssKiB / 1024, 1),
          ],
    ),
  );
}
