// `--variant 'name[@MiB]=command'` as bench/ab.ts and bench/instructions.ts read it: `node` is this
// Node binary, `row:NAME` the command of bench/targets.ts's row NAME, `deno-serve:FILE` FILE run
// with `deno task serve`'s permissions in one process (the task runner would be the process
// measured otherwise), anything else a command line split on spaces; leading `NAME=value` words are
// its environment (`otlp=OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 node runtimes/node.ts`).
import type { Run } from './context.ts';
import { TARGETS, denoServeCommand } from './targets.ts';

export interface VariantSpec {
  name: string;
  argv: string[];
  /** Variables set for this variant only. */
  env: Record<string, string>;
  /** The MiB after `@` in the name, or undefined. */
  limitMiB: number | undefined;
}

export function variantSpecs(argv: readonly string[]): VariantSpec[] {
  return argv.flatMap((arg, i) => {
    if (arg !== '--variant') return [];
    const spec = argv[i + 1] ?? '';
    const eq = spec.indexOf('=');
    const env: Record<string, string> = {};
    let command = spec.slice(eq + 1).trim();
    for (let m = /^([A-Z_][A-Z0-9_]*)=(\S*)\s+/.exec(command); m; m = /^([A-Z_][A-Z0-9_]*)=(\S*)\s+/.exec(command)) {
      env[m[1] as string] = m[2] as string;
      command = command.slice(m[0].length);
    }
    const row = command.startsWith('row:') ? TARGETS.find((t) => t.name === command.slice(4)) : undefined;
    if (command.startsWith('row:') && !row) throw new Error(`no bench row named ${command.slice(4)}`);
    // A row's environment (a sink's port, limits) belongs to a bench/run.ts run; taking only its
    // command would measure another configuration under the row's name.
    if (row?.env)
      throw new Error(`bench row ${row.name} sets its own environment: give the command with NAME=value words instead`);
    const words = row
      ? row.argv({} as Run)
      : command.startsWith('deno-serve:')
        ? ['/bin/sh', '-c', denoServeCommand(command.slice('deno-serve:'.length))]
        : command.split(/\s+/);
    if (words[0] === 'node') words[0] = process.execPath;
    const [name = '', limit] = spec.slice(0, eq).split('@');
    return [{ name, argv: words, env, limitMiB: limit === undefined ? undefined : Number(limit) }];
  });
}

/** `--name value` from argv, or the fallback. */
export function option(argv: readonly string[], name: string, fallback: string): string {
  const i = argv.indexOf(`--${name}`);
  return i === -1 ? fallback : (argv[i + 1] ?? fallback);
}
