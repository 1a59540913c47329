/**
 * A proto3 wire-format writer (https://protobuf.dev/programming-guides/encoding/): varints, fixed
 * 32/64, length-delimited strings, bytes and sub-messages. A sub-message is written in place and
 * then shifted right by the size of its length prefix, known only once it is written: no buffer
 * per message. The OTLP messages are in otlp-protobuf.ts.
 */
export const VARINT = 0;
export const I64 = 1;
export const LEN = 2;
export const I32 = 5;

const utf8 = new TextEncoder();

/** A growable buffer with a write position. */
export class ProtoWriter {
  buf: Uint8Array;
  view: DataView;
  pos = 0;

  /** Writes into `buf` from `pos` on; `buf` is replaced (see .buf) when it has to grow. */
  constructor(buf: Uint8Array = new Uint8Array(256), pos = 0) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = pos;
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  varint(value: number): void {
    this.room(10);
    // Values here are lengths, enums and integers below 2^53: split so bit operations stay in 32 bits.
    while (value > 0x7f) {
      this.buf[this.pos++] = (value % 128) | 0x80;
      value = Math.floor(value / 128);
    }
    this.buf[this.pos++] = value;
  }

  tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  fixed32(field: number, value: number): void {
    this.tag(field, I32);
    this.room(4);
    this.view.setUint32(this.pos, value >>> 0, true);
    this.pos += 4;
  }

  /**
   * fixed64 Unix nanoseconds of `ms` (whole epoch milliseconds) plus `extraNs`, in 32-bit halves
   * with plain numbers (a BigInt per timestamp cost more than the rest of the span): every
   * intermediate stays below 2^53.
   */
  fixed64Nanos(field: number, ms: number, extraNs: number): void {
    this.tag(field, I64);
    this.room(8);
    const high16 = Math.floor(ms / 65536);
    const a = high16 * 1e6; // ms's upper part, times 1e6, still to be shifted left by 16 bits
    const low = (a % 65536) * 65536 + (ms - high16 * 65536) * 1e6 + extraNs;
    const lo32 = low % 4294967296;
    this.view.setUint32(this.pos, lo32, true);
    this.view.setUint32(this.pos + 4, Math.floor(a / 65536) + (low - lo32) / 4294967296, true);
    this.pos += 8;
  }

  string(field: number, value: string): void {
    this.tag(field, LEN);
    this.room(10 + value.length * 3);
    const start = this.pos;
    // Reserve a 1-byte length, the common case; fixLength() makes room when it is longer.
    this.pos += 1;
    // Most values are short ASCII: copied by hand, cheaper than a TextEncoder call per string.
    let ascii = value.length < 128;
    for (let i = 0; ascii && i < value.length; i++) {
      const code = value.charCodeAt(i);
      if (code > 0x7f) ascii = false;
      else this.buf[this.pos + i] = code;
    }
    if (ascii) this.pos += value.length;
    else this.pos += utf8.encodeInto(value, this.buf.subarray(this.pos)).written;
    this.fixLength(start);
  }

  /** A string field whose bytes (tag, length, UTF-8) never change: encoded once (encodedString()), then copied. */
  constant(field: number, value: string): void {
    this.raw(encodedString(field, value));
  }

  /** Bytes given as hex (ids: validated lowercase or uppercase hex, src/tracing/trace-context.ts), two digits a byte. */
  hexBytes(field: number, hex: string): void {
    const n = hex.length >> 1;
    this.tag(field, LEN);
    this.varint(n);
    this.room(n);
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < hex.length; i += 2)
      buf[pos++] =
        ((nibbles[hex.charCodeAt(i) & 0x7f] as number) << 4) | (nibbles[hex.charCodeAt(i + 1) & 0x7f] as number);
    this.pos = pos;
  }

  /**
   * A KeyValue (common.proto: string key = 1; AnyValue value = 2) as field `field` (< 16) of its
   * parent, its key already encoded (encodedString(1, key)) and its value a string or a non-negative integer.
   * The usual attribute, a short ASCII string or a number, is written in one pass with one-byte
   * lengths; anything else (longer, or UTF-8 beyond ASCII) as nested messages.
   */
  keyValue(field: number, key: Uint8Array, value: string | number): void {
    const start = this.pos;
    const text = typeof value === 'string';
    // Tag and length of the KeyValue, of the AnyValue and of its value: one byte each on this path.
    if (!text || key.length + value.length + 6 < 0x80) {
      this.room(key.length + (text ? value.length : 10) + 6);
      const buf = this.buf;
      let pos = start;
      buf[pos++] = (field << 3) | LEN;
      const keyValueLength = pos++;
      buf.set(key, pos);
      pos += key.length;
      buf[pos++] = (2 << 3) | LEN;
      const anyValueLength = pos++;
      let ascii = true;
      if (text) {
        // AnyValue.string_value = 1
        buf[pos++] = (1 << 3) | LEN;
        buf[pos++] = value.length;
        for (let i = 0; ascii && i < value.length; i++) {
          const code = value.charCodeAt(i);
          if (code > 0x7f) ascii = false;
          else buf[pos++] = code;
        }
      } else {
        // AnyValue.int_value = 3
        buf[pos++] = (3 << 3) | VARINT;
        let v = value;
        while (v > 0x7f) {
          buf[pos++] = (v % 128) | 0x80;
          v = Math.floor(v / 128);
        }
        buf[pos++] = v;
      }
      if (ascii) {
        buf[anyValueLength] = pos - anyValueLength - 1;
        buf[keyValueLength] = pos - keyValueLength - 1;
        this.pos = pos;
        return;
      }
    }
    this.pos = start;
    const m = this.begin(field);
    this.raw(key);
    const v = this.begin(2);
    if (text) this.string(1, value);
    else {
      this.tag(3, VARINT);
      this.varint(value);
    }
    this.end(v);
    this.end(m);
  }

  /** Starts a length-delimited sub-message; end() with what this returns closes it. No closure per message: this runs per attribute. */
  begin(field: number): number {
    this.tag(field, LEN);
    this.room(1);
    this.pos += 1;
    return this.pos - 1;
  }

  end(start: number): void {
    this.fixLength(start);
  }

  /** The bytes from start+1 to pos are a message whose length goes at start (one byte was reserved). */
  private fixLength(start: number): void {
    const length = this.pos - start - 1;
    if (length < 0x80) {
      this.buf[start] = length;
      return;
    }
    let size = 1;
    while (length >= 2 ** (7 * size)) size++;
    this.room(size - 1);
    this.buf.copyWithin(start + size, start + 1, this.pos);
    this.pos += size - 1;
    const end = this.pos;
    this.pos = start;
    this.varint(length);
    this.pos = end;
  }

  /** Bytes already encoded (a sub-message kept from before), copied as they are. */
  raw(bytes: Uint8Array): void {
    this.room(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

/** A hex digit's value by its character code (lowercase or uppercase; ids are validated hex: src/tracing/trace-context.ts). */
const nibbles = new Uint8Array(128);
for (let i = 0; i < 10; i++) nibbles[0x30 + i] = i;
for (let i = 0; i < 6; i++) nibbles[0x41 + i] = nibbles[0x61 + i] = 10 + i;

/**
 * A string field that recurs (a span name, an attribute key: KeyValue.key is field 1), encoded
 * once: tag, length, UTF-8. A bounded handful per field number are kept, shared by every batch.
 */
export function encodedString(field: number, value: string): Uint8Array {
  let known = encoded[field];
  if (known === undefined) known = encoded[field] = new Map();
  let bytes = known.get(value);
  if (bytes === undefined) {
    const w = new ProtoWriter();
    w.string(field, value);
    bytes = w.finish();
    if (known.size < 256) known.set(value, bytes);
  }
  return bytes;
}
const encoded: Map<string, Uint8Array>[] = [];
