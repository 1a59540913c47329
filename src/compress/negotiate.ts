/**
 * Chooses the content coding for a response from the request's `Accept-Encoding`
 * (RFC 9110 §12.5.3) and the encodings COMPRESS offers.
 */
import type { Encoding } from './encoding.ts';

/** The coding to apply, or undefined to send the body as it is (identity). */
export type Negotiate = (acceptEncoding: string | null) => Encoding | undefined;

/** Browsers send a handful of distinct values; a few dozen cover a real mix of clients. */
const defaultCacheSize = 64;
/** Longer values are parsed every time: a client cannot make the cache hold large keys. */
const longestCachedValue = 256;

/**
 * RFC 9110 §12.4.2 qvalue: `0` to `1` with up to three decimals. Anything else makes the
 * member unreadable, and an unreadable member accepts nothing.
 */
const qvalue = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;

/**
 * Each listed coding (lower-cased, as codings are case-insensitive: RFC 9110 §8.4.1) with its
 * weight; `*` and `identity` included. A coding listed twice keeps its first weight. `x-gzip`
 * counts as `gzip` (RFC 9110 §8.4.1.3).
 */
function weights(value: string): Map<string, number> {
  const listed = new Map<string, number>();
  for (const member of value.split(',')) {
    const [rawName = '', ...parameters] = member.split(';');
    let name = rawName.trim().toLowerCase();
    if (name === '') continue;
    if (name === 'x-gzip') name = 'gzip';
    let weight: number | undefined = 1;
    for (const parameter of parameters) {
      const [key = '', rawValue = ''] = parameter.split('=', 2);
      if (key.trim().toLowerCase() !== 'q') continue;
      const text = rawValue.trim();
      weight = qvalue.test(text) ? Number(text) : undefined;
    }
    if (weight !== undefined && !listed.has(name)) listed.set(name, weight);
  }
  return listed;
}

/**
 * The offered coding with the highest weight above 0, the first in COMPRESS's order among
 * equals; `*` stands for every coding not listed by name. None when the client refuses them all
 * (`q=0`) or sent an empty value (RFC 9110 §12.5.3: no coding wanted). `identity` wins only when
 * the client weighs it (by name, or through `*`) strictly above the best coding: with equal
 * weights the sidecar's preference, compression, decides.
 */
function choose(value: string, offered: readonly Encoding[]): Encoding | undefined {
  const listed = weights(value);
  const any = listed.get('*');
  let best: Encoding | undefined;
  let bestWeight = 0;
  for (const encoding of offered) {
    const weight = listed.get(encoding) ?? any ?? 0;
    if (weight > bestWeight) {
      best = encoding;
      bestWeight = weight;
    }
  }
  const identity = listed.get('identity') ?? any;
  return identity !== undefined && identity > bestWeight ? undefined : best;
}

/**
 * A negotiator for the encodings COMPRESS offers, in its order. A request without
 * `Accept-Encoding` gets no coding: RFC 9110 §12.5.3 would allow any, but clients that send none
 * (curl, scripts, health checks) mostly cannot decode one, and nginx, Caddy and Envoy compress
 * only on request too. Results are kept per header value in a small map, emptied when full.
 */
export function createNegotiator(offered: readonly Encoding[], cacheSize = defaultCacheSize): Negotiate {
  const cache = new Map<string, Encoding | undefined>();
  return (acceptEncoding) => {
    if (acceptEncoding === null || offered.length === 0) return undefined;
    const known = cache.get(acceptEncoding);
    if (known !== undefined || cache.has(acceptEncoding)) return known;
    const chosen = choose(acceptEncoding, offered);
    if (acceptEncoding.length <= longestCachedValue) {
      if (cache.size >= cacheSize) cache.clear();
      cache.set(acceptEncoding, chosen);
    }
    return chosen;
  };
}
