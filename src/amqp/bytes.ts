/**
 * Small copies for header rewrites. Buffer#copy and Buffer#write cross into C++ and build
 * a typed-array view per call (70-120 ns on the 2-core dev machine, whatever the length);
 * a plain loop is cheaper below about 32 bytes (measured on Node 20), the native call above.
 */
const LOOP_MAX_BYTES = 32;

/** Buffer#copy(target, targetStart, sourceStart, sourceEnd) for in-range arguments. */
export function copyBytes(source: Buffer, target: Buffer, targetStart: number, sourceStart: number, sourceEnd: number): number {
  const length = sourceEnd - sourceStart;
  if (length > LOOP_MAX_BYTES || targetStart + length > target.length || sourceEnd > source.length) {
    return source.copy(target, targetStart, sourceStart, sourceEnd);
  }
  for (let i = 0; i < length; i++) target[targetStart + i] = source[sourceStart + i]!;
  return length > 0 ? length : 0;
}

/** Buffer#write(value, offset, 'latin1') for a string the caller knows is ASCII and fits. */
export function writeAscii(target: Buffer, offset: number, value: string): number {
  if (value.length > LOOP_MAX_BYTES || offset + value.length > target.length) return target.write(value, offset, 'latin1');
  for (let i = 0; i < value.length; i++) target[offset + i] = value.charCodeAt(i);
  return value.length;
}
