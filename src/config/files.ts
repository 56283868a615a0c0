import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';

/**
 * Files the proxy reads while it runs (the mode file, the admin token): opened without
 * blocking and refused unless they are regular files. A FIFO opened the usual way blocks
 * until a writer appears, and a synchronous read of one stopped start-up and, with it,
 * SIGTERM handling; a device could be read forever.
 */
export class FileRefused extends Error {
  constructor(readonly path: string, readonly code: string, why: string) {
    super(`"${path}" ${why}`);
  }
}

/** What kind of thing is at a path, for messages: "a FIFO", "a directory". */
export function fileKind(stats: Stats): string {
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isDirectory()) return 'a directory';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/** Reads a regular file of at most `maxBytes`; anything else is a FileRefused, as are errors opening it. */
export function readRegularFile(path: string, maxBytes: number): string {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new FileRefused(path, code, `cannot be read (${code})`);
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new FileRefused(path, 'ENOTREG', `is ${fileKind(stats)}; a regular file is expected`);
    if (stats.size > maxBytes) throw new FileRefused(path, 'EFBIG', `is ${stats.size} bytes; at most ${maxBytes} are expected`);
    const buffer = Buffer.alloc(stats.size);
    let read = 0;
    while (read < buffer.length) {
      const n = readSync(fd, buffer, read, buffer.length - read, read);
      if (n === 0) break;
      read += n;
    }
    return buffer.subarray(0, read).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** Why the thing at `path` is not a regular file, or undefined when it is one or does not exist. */
export function notRegularFile(path: string): string | undefined {
  let stats: Stats;
  try {
    stats = statSync(path);
  } catch {
    return undefined;
  }
  return stats.isFile() ? undefined : `"${path}" is ${fileKind(stats)}; a regular file is expected`;
}
