import { unwatchFile, watchFile } from 'node:fs';
import { FileRefused, readRegularFile } from '../config/files';
import { SMALL_FILE_BYTES } from '../config/options';
import type { Logger } from '../log/logger';
import { ModeController, parseMode } from './modeSwitch';

const POLL_MS = 1000;

/**
 * Follows a file holding "tracing" or "bypass" (a ConfigMap mounted as a file). Polling with
 * stat, not inotify: kubelet replaces ConfigMap files by swapping a symlink, which inotify
 * watches on the old target miss. A file that is missing or unreadable changes nothing, and
 * neither does one that is not a regular file (a FIFO would block the read, and with it the
 * process: config refuses one at start, this catches one put there later).
 */
export function watchModeFile(path: string, controller: ModeController, logger: Logger): () => void {
  const apply = (): void => {
    let raw: string;
    try {
      raw = readRegularFile(path, SMALL_FILE_BYTES);
    } catch (err) {
      const code = err instanceof FileRefused ? err.code : 'error';
      logger.warn({ path, code, why: (err as Error).message }, 'mode file unreadable; mode unchanged');
      return;
    }
    const mode = parseMode(raw);
    if (mode === undefined) {
      logger.warn({ path }, 'mode file must hold "tracing" or "bypass"; mode unchanged');
      return;
    }
    controller.set(mode, `file ${path}`);
  };
  apply();
  watchFile(path, { interval: POLL_MS, persistent: false }, apply);
  return () => unwatchFile(path, apply);
}
