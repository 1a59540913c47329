/**
 * The access log's sink on Node and Bun: fs.write on fd 1, which runs on the runtime's thread
 * pool, so a slow or full stdout pipe holds up log lines, never the event loop.
 * (Node's process.stdout is synchronous on a pipe; Bun.write(Bun.stdout) blocked Bun's loop once
 * the pipe was full.) The line writer in src/logger.ts keeps one write in flight and bounds the rest.
 *
 * When stdout is non-blocking (a socketpair, as Node's own child_process sets up), a full pipe
 * answers EAGAIN: the rest of the chunk is retried shortly, never dropped halfway through a line.
 */
import { write } from 'node:fs';

const retryAfterMs = 10;

export function fdStdout(fd = 1): (chunk: string) => Promise<void> {
  return (chunk) =>
    new Promise<void>((resolve, reject) => {
      const bytes = Buffer.from(chunk);
      const next = (offset: number) =>
        write(fd, bytes, offset, bytes.length - offset, null, (error, written) => {
          if (error?.code === 'EAGAIN') setTimeout(next, retryAfterMs, offset);
          else if (error) reject(error);
          else if (offset + written < bytes.length) next(offset + written);
          else resolve();
        });
      next(0);
    });
}
