import { createHash, timingSafeEqual } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { readRegularFile } from '../config/files';
import { SMALL_FILE_BYTES } from '../config/options';

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/**
 * The admin token of --admin-token-file: read when the file changes, not at every request.
 * Each request stats the file (asynchronously: nothing waits on the disk in the event
 * loop) and the token is read again when its inode, size, mtime or ctime moved, which a
 * rotated Kubernetes Secret (a swapped symlink) or a rewrite does. A file that is missing,
 * not a regular file or empty matches nothing.
 */
export class TokenFile {
  private cached: { readonly key: string; readonly digest: Buffer | undefined } | undefined;

  constructor(private readonly path: string, private readonly read: (path: string, maxBytes: number) => string = readRegularFile) {}

  /** Whether `Authorization: Bearer <token>` carries the file's token (without surrounding whitespace). */
  async matches(authorization: string | undefined): Promise<boolean> {
    const given = /^Bearer +(\S+) *$/i.exec(authorization ?? '')?.[1];
    if (given === undefined) return false;
    const expected = await this.current();
    // Digests, so the comparison takes as long whatever the lengths.
    return expected !== undefined && timingSafeEqual(digest(given), expected);
  }

  private async current(): Promise<Buffer | undefined> {
    let key: string;
    try {
      const s = await stat(this.path);
      key = `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
    } catch {
      this.cached = undefined;
      return undefined;
    }
    if (this.cached?.key === key) return this.cached.digest;
    let token = '';
    try {
      token = this.read(this.path, SMALL_FILE_BYTES).trim();
    } catch { /* unreadable, not a regular file: matches nothing until it changes */ }
    this.cached = { key, digest: token === '' ? undefined : digest(token) };
    return this.cached.digest;
  }
}
