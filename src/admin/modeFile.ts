import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { Logger } from '../log/logger';
import { ModeController, parseMode } from './modeSwitch';

const POLL_MS = 1000;

/**
 * Follows a file holding "tracing" or "bypass" (a ConfigMap mounted as a file). Polling with
 * stat, not inotify: kubelet replaces ConfigMap files by swapping a symlink, which inotify
 * watches on the old target miss. A file that is missing or unreadable changes nothing.
 */
export function watchModeFile(path: string, controller: ModeController, logger: Logger): () => void {
  const apply = (): void => {
    let raw: string;
    try {
      raw = readFileSync(path, 'utf8');
    } catch (err) {
      logger.warn({ path, code: (err as NodeJS.ErrnoException).code }, 'mode file unreadable; mode unchanged');
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
