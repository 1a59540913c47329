// nginx as a peer: writes a config into a temp folder so nginx runs as the current user, in the
// foreground, with every path it writes (pid, temp bodies, logs) inside that folder.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';

export interface NginxInfo {
  bin: string;
  version: string;
}

/** The nginx binary and its version, or null when nginx is not installed. */
export function findNginx(): NginxInfo | null {
  for (const bin of ['nginx', '/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx']) {
    // `nginx -v` prints "nginx version: nginx/1.22.1" on stderr.
    const r = spawnSync(bin, ['-v'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.error) continue;
    const m = /nginx version:\s*(\S+)/.exec(`${r.stderr}${r.stdout}`);
    if (m?.[1]) return { bin, version: m[1] };
  }
  return null;
}

export interface NginxConfig {
  dir: string;
  port: number;
  upstreamPort: number;
  workers: number;
  /** `gzip on` at this level for text/html (the nginx-gzip row); undefined: no gzip. */
  gzipLevel?: number;
}

/** Writes nginx.conf into `dir` and returns the argv that runs it in the foreground. */
export function writeNginxConfig(nginx: NginxInfo, cfg: NginxConfig): string[] {
  const { dir } = cfg;
  for (const sub of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'])
    mkdirSync(join(dir, sub), { recursive: true });
  // As root, workers would drop to `nobody`; run them as whoever runs the benchmark instead.
  const user = process.getuid?.() === 0 ? `user ${userInfo().username};` : '';
  const proxyHeaders = `
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      # Same header work as the sidecar: original Host, X-Forwarded-*.
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $http_host;`;
  // As the sidecar's COMPRESS: text/html (always on in gzip_types), 1024 bytes and up, whatever
  // the request's Via, with Vary: Accept-Encoding.
  const gzip =
    cfg.gzipLevel === undefined
      ? ''
      : `  gzip on;\n  gzip_comp_level ${cfg.gzipLevel};\n  gzip_min_length 1024;\n  gzip_proxied any;\n  gzip_vary on;\n`;
  const conf = `# written by bench/nginx.ts
daemon off;
master_process on;
worker_processes ${cfg.workers};
${user}
pid ${join(dir, 'nginx.pid')};
error_log stderr warn;
events { worker_connections 4096; }
http {
  client_body_temp_path ${join(dir, 'client_body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
  default_type application/octet-stream;

  # One JSON line per request on stdout, like the sidecar and the other peers.
  log_format json escape=json '{"time":"$time_iso8601","service":"nginx","target":"http://127.0.0.1:${cfg.upstreamPort}",'
    '"method":"$request_method","path":"$request_uri","status":$status,"duration_ms":$request_time,'
    '"bytes_in":$request_length,"bytes_out":$bytes_sent,"request_id":"$request_id",'
    '"remote_addr":"$remote_addr","user_agent":"$http_user_agent"}';
  access_log /dev/stdout json;

  # Node's server and agent have no per-connection request cap; nginx's default (1000) would
  # make it reopen connections that the Node proxies keep.
  keepalive_timeout 65s;
  keepalive_requests 1000000;

  upstream app {
    server 127.0.0.1:${cfg.upstreamPort};
    keepalive 64;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
  }

${gzip}
  server {
    listen 127.0.0.1:${cfg.port};
    client_max_body_size 0;
    proxy_request_buffering off;
    location / {${proxyHeaders}
    }
    location /big {${proxyHeaders}
      proxy_buffering off;
    }
  }
}
`;
  const confPath = join(dir, 'nginx.conf');
  writeFileSync(confPath, conf);
  // -e (1.19.5+) keeps nginx from opening its compiled-in error log before reading the config.
  const m = /(\d+)\.(\d+)\.(\d+)/.exec(nginx.version);
  const modernE = m !== null && (Number(m[1]) > 1 || Number(m[2]) > 19 || (Number(m[2]) === 19 && Number(m[3]) >= 5));
  return [nginx.bin, '-p', dir, '-c', confPath, ...(modernE ? ['-e', 'stderr'] : [])];
}
