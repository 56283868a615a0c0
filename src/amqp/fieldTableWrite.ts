/**
 * Writing `S` (longstr) entries into a field table (fieldTable.ts has the layout): what the
 * header splice adds, sized first and then written in place, without building strings.
 */
import { copyBytes, writeAscii } from './bytes';
import { SHORTSTR_MAX_BYTES } from './constants';
import { TAG_LONGSTR } from './fieldTable';

/**
 * A longstr value that writes its own ASCII bytes: lets the proxy put a value made of bytes
 * (a new traceparent from random ids) into a table without building a string first.
 */
export interface AsciiValue {
  readonly byteLength: number;
  /** Writes exactly byteLength bytes at `offset`. */
  writeTo(target: Buffer, offset: number): void;
}

/** Encoded size of a name + `S` + longstr entry. Throws RangeError for a name over 255 bytes. */
export function stringEntrySize(name: string, value: string | AsciiValue): number {
  const valueLength = typeof value !== 'string' ? value.byteLength : isAscii(value) ? value.length : Buffer.byteLength(value, 'utf8');
  return encodedEntryName(name).length + 4 + valueLength;
}

/** Writes a name + `S` + longstr entry at `offset` (sized with `stringEntrySize`); returns the offset after it. */
export function writeStringEntry(target: Buffer, offset: number, name: string, value: string | AsciiValue): number {
  const prefix = encodedEntryName(name);
  const at = offset + copyBytes(prefix, target, offset, 0, prefix.length);
  let valueLength: number;
  if (typeof value !== 'string') {
    value.writeTo(target, at + 4);
    valueLength = value.byteLength;
  } else {
    // Trace context values are ASCII; they are written without UTF-8 encoding work.
    valueLength = isAscii(value) ? writeAscii(target, at + 4, value) : target.write(value, at + 4, 'utf8');
  }
  target.writeUInt32BE(valueLength, at);
  return at + 4 + valueLength;
}

/** shortstr name + `S` tag, encoded once per distinct name (the proxy writes a handful). */
const entryNames = new Map<string, Buffer>();
const MAX_CACHED_ENTRY_NAMES = 64;

function encodedEntryName(name: string): Buffer {
  let prefix = entryNames.get(name);
  if (prefix === undefined) {
    const nameLength = Buffer.byteLength(name, 'utf8');
    if (nameLength > SHORTSTR_MAX_BYTES) {
      throw new RangeError(`field table entry name is ${nameLength} bytes; a shortstr holds at most ${SHORTSTR_MAX_BYTES}`);
    }
    prefix = Buffer.alloc(nameLength + 2);
    prefix[0] = nameLength;
    prefix.write(name, 1, 'utf8');
    prefix[nameLength + 1] = TAG_LONGSTR;
    if (entryNames.size < MAX_CACHED_ENTRY_NAMES) entryNames.set(name, prefix);
  }
  return prefix;
}

function isAscii(value: string): boolean {
  for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** shortstr name + `S` + longstr value. */
export function encodeStringEntry(name: string, value: string): Buffer {
  const entry = Buffer.allocUnsafe(stringEntrySize(name, value));
  writeStringEntry(entry, 0, name, value);
  return entry;
}
