/**
 * A Prometheus counter family whose label values come from a fixed list given up front, so a
 * client can never mint a series, and every series exists at 0 from the start (rate() and
 * alerts work before the first event). Used for the milestone-3 outcomes: access control,
 * refusals at the edge, compressed bytes.
 */
export class LabeledCounter<Label extends string> {
  readonly #name: string;
  readonly #help: string;
  readonly #series: Map<string, { values: Readonly<Record<Label, string>>; labels: string; value: number }>;

  /** `series`: every allowed combination of label values, each as `{ label: value }`. */
  constructor(name: string, help: string, series: readonly Readonly<Record<Label, string>>[]) {
    this.#name = name;
    this.#help = help;
    this.#series = new Map(
      series.map((values) => {
        const labels = Object.entries(values)
          .map(([label, value]) => `${label}="${String(value)}"`)
          .join(',');
        return [keyOf(values), { values, labels, value: 0 }];
      }),
    );
  }

  /** Adds `by` (default 1) to the series; an unknown combination is a bug, and is ignored rather than minted. */
  inc(values: Readonly<Record<Label, string>>, by = 1): void {
    const series = this.#series.get(keyOf(values));
    if (series !== undefined) series.value += by;
  }

  /** The value of one series (the status page reads these). */
  get(values: Readonly<Record<Label, string>>): number {
    return this.#series.get(keyOf(values))?.value ?? 0;
  }

  /** Each series' value under its value of `label` (for a family with that one label: the status page's refusals). */
  byValue(label: Label): Record<string, number> {
    const out: Record<string, number> = {};
    for (const { values, value } of this.#series.values()) out[values[label]] = (out[values[label]] ?? 0) + value;
    return out;
  }

  render(): string[] {
    const out = [`# HELP ${this.#name} ${this.#help}`, `# TYPE ${this.#name} counter`];
    for (const { labels, value } of this.#series.values()) out.push(`${this.#name}{${labels}} ${value}`);
    return out;
  }
}

/** The same key whatever order the labels were written in. */
function keyOf(values: Readonly<Record<string, string>>): string {
  return Object.keys(values)
    .sort()
    .map((name) => `${name}=${values[name]}`)
    .join('\u0000');
}
