/**
 * A parser for the Prometheus text exposition format, version 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/): it reads the text character by
 * character as the format defines it, groups samples into families by their # TYPE, and throws on
 * anything a Prometheus server would reject (bad names, bad escapes, samples of an undeclared
 * family, non-cumulative histogram buckets, a +Inf bucket that differs from _count).
 * The one npm parser found (parse-prometheus-text-format 1.1.1) loses the labels of labelled
 * histograms, so it cannot check per-series counts.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help: string;
  samples: Sample[];
}

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function parseValue(text: string, line: number): number {
  if (text === '+Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  if (text === 'NaN') return Number.NaN;
  const value = Number(text);
  if (text === '' || Number.isNaN(value)) throw new Error(`line ${line}: not a number: ${JSON.stringify(text)}`);
  return value;
}

function parseSample(text: string, line: number): Sample {
  let i = 0;
  while (i < text.length && /[a-zA-Z0-9_:]/.test(text[i] as string)) i++;
  const name = text.slice(0, i);
  if (!metricName.test(name)) throw new Error(`line ${line}: bad metric name in ${JSON.stringify(text)}`);
  const labels: Record<string, string> = {};
  if (text[i] === '{') {
    i++;
    for (;;) {
      while (text[i] === ' ') i++;
      if (text[i] === '}') {
        i++;
        break;
      }
      const start = i;
      while (i < text.length && /[a-zA-Z0-9_]/.test(text[i] as string)) i++;
      const label = text.slice(start, i);
      if (!labelName.test(label)) throw new Error(`line ${line}: bad label name ${JSON.stringify(label)}`);
      if (text[i] !== '=' || text[i + 1] !== '"') throw new Error(`line ${line}: expected =" after ${label}`);
      i += 2;
      let value = '';
      for (;;) {
        const ch = text[i];
        if (ch === undefined) throw new Error(`line ${line}: unterminated label value`);
        i++;
        if (ch === '"') break;
        if (ch === '\\') {
          const escaped = text[i++];
          if (escaped === 'n') value += '\n';
          else if (escaped === '\\' || escaped === '"') value += escaped;
          else throw new Error(`line ${line}: bad escape \\${escaped}`);
        } else value += ch;
      }
      if (label in labels) throw new Error(`line ${line}: label ${label} twice`);
      labels[label] = value;
      while (text[i] === ' ') i++;
      if (text[i] === ',') i++;
      else if (text[i] !== '}') throw new Error(`line ${line}: expected , or } in labels`);
    }
  }
  if (text[i] !== ' ') throw new Error(`line ${line}: expected a space before the value`);
  const [value = '', timestamp, extra] = text
    .slice(i + 1)
    .trim()
    .split(/ +/);
  if (extra !== undefined || (timestamp !== undefined && !/^-?\d+$/.test(timestamp)))
    throw new Error(`line ${line}: trailing garbage`);
  return { name, labels, value: parseValue(value, line) };
}

const suffixes: Record<Family['type'], string[]> = {
  counter: [''],
  gauge: [''],
  untyped: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
};

export function parsePrometheusText(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const families = new Map<string, Family>();
  const lines = text.slice(0, -1).split('\n');
  lines.forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === '') return;
    if (raw.startsWith('#')) {
      const match = /^# (HELP|TYPE) ([^ ]+) ?(.*)$/.exec(raw);
      if (!match) return; // an ordinary comment
      const [, kind, name = '', rest = ''] = match;
      if (!metricName.test(name)) throw new Error(`line ${line}: bad metric name ${name}`);
      const family = families.get(name) ?? { name, type: 'untyped', help: '', samples: [] };
      if (kind === 'TYPE') {
        if (!(rest in suffixes)) throw new Error(`line ${line}: unknown type ${rest}`);
        if (family.samples.length > 0) throw new Error(`line ${line}: TYPE after samples of ${name}`);
        family.type = rest as Family['type'];
      } else family.help = rest.replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
      families.set(name, family);
      return;
    }
    const sample = parseSample(raw, line);
    const family = [...families.values()].find((f) => suffixes[f.type].some((s) => f.name + s === sample.name));
    if (!family) throw new Error(`line ${line}: sample ${sample.name} has no # TYPE`);
    family.samples.push(sample);
  });
  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family);
  return families;
}

/** Buckets cumulative in `le` order, `+Inf` present and equal to `_count`, for every series. */
function checkHistogram(family: Family): void {
  const series = new Map<string, { buckets: [number, number][]; count?: number }>();
  for (const s of family.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const entry = series.get(key) ?? { buckets: [] };
    if (s.name.endsWith('_bucket')) {
      if (le === undefined) throw new Error(`${family.name}: bucket without le`);
      entry.buckets.push([parseValue(le, 0), s.value]);
    } else if (s.name.endsWith('_count')) entry.count = s.value;
    series.set(key, entry);
  }
  for (const [key, { buckets, count }] of series) {
    buckets.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < buckets.length; i++) {
      if ((buckets[i]?.[1] ?? 0) < (buckets[i - 1]?.[1] ?? 0))
        throw new Error(`${family.name}${key}: buckets not cumulative`);
    }
    const inf = buckets.at(-1);
    if (!inf || inf[0] !== Number.POSITIVE_INFINITY || inf[1] !== count)
      throw new Error(`${family.name}${key}: +Inf bucket must equal _count`);
  }
}

/** The value of the one sample with this name and (at least) these labels; undefined if none. */
export function sampleValue(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const family of families.values()) {
    for (const s of family.samples) {
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value;
    }
  }
  return undefined;
}
