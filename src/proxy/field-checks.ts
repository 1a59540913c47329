/**
 * Header field names and values as the Fetch standard's Headers checks them (a name is a token,
 * RFC 9110 §5.1; a value is trimmed of surrounding whitespace and may not hold NUL, CR or LF), for
 * FlatHeaders (flat-headers.ts): a bad one throws a TypeError, as Headers does.
 */
/** RFC 9110 §5.1: a field name is a token. */
const token = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Fetch: a header value may not contain NUL, CR or LF once its surrounding whitespace is trimmed. */
const forbiddenInValue = /[\0\r\n]/;
const surroundingWhitespace = /^[\t\n\r ]+|[\t\n\r ]+$/g;

/**
 * Names already checked, as given to their lower-cased form: the proxy asks for the same few
 * names on every request, and a lookup is cheaper than the token check. Bounded, as names also
 * come from clients (Connection's list).
 */
const checkedNames = new Map<string, string>();
const checkedNamesLimit = 512;

export function checkedName(name: string): string {
  const known = checkedNames.get(name);
  if (known !== undefined) return known;
  if (!token.test(name)) throw new TypeError(`Invalid header name: "${name}"`);
  const lower = name.toLowerCase();
  if (checkedNames.size < checkedNamesLimit) checkedNames.set(name, lower);
  return lower;
}

const isWhitespace = (code: number) => code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d;

export function checkedValue(value: string): string {
  let checked = String(value);
  if (isWhitespace(checked.charCodeAt(0)) || isWhitespace(checked.charCodeAt(checked.length - 1)))
    checked = checked.replace(surroundingWhitespace, '');
  if (forbiddenInValue.test(checked)) throw new TypeError(`Invalid header value for a header`);
  return checked;
}
