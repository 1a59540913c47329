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

  /** A string field whose bytes (tag, length, UTF-8) never change: encoded once, then copied. */
  constant(field: number, value: string): void {
    let known = constants[field];
    if (known === undefined) known = constants[field] = new Map();
    let bytes = known.get(value);
    if (bytes === undefined) {
      const w = new ProtoWriter();
      w.string(field, value);
      bytes = w.finish();
      if (known.size < 256) known.set(value, bytes);
    }
    this.room(bytes.length);
    // A byte loop: TypedArray#set costs more than it saves on a few dozen bytes.
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < bytes.length; i++) buf[pos++] = bytes[i] as number;
    this.pos = pos;
  }

  hexBytes(field: number, hex: string): void {
    this.tag(field, LEN);
    this.varint(hex.length / 2);
    this.room(hex.length / 2);
    for (let i = 0; i < hex.length; i += 2)
      this.buf[this.pos++] = (nibble(hex.charCodeAt(i)) << 4) | nibble(hex.charCodeAt(i + 1));
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

/** Encoded attribute keys and span names, by field number, shared by every batch (a bounded handful). */
const constants: Map<string, Uint8Array>[] = [];

/** A lowercase or uppercase hex digit's value (ids are validated hex: src/tracing/trace-context.ts). */
function nibble(code: number): number {
  return code <= 0x39 ? code - 0x30 : (code | 0x20) - 0x57;
}
