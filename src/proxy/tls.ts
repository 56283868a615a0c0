import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { ConnectionOptions, SecureContext, SecureContextOptions, createSecureContext } from 'node:tls';
import { caBundleProblem } from '../config/tlsCheck';
import type { Logger } from '../log/logger';

/** How often certificate files are stat'ed for changes. */
const POLL_MS = 1000;

export interface ServerTlsFiles {
  readonly cert: string;
  readonly key: string;
  /** When set, clients must present a certificate signed by this CA (mutual TLS). */
  readonly clientCa?: string;
}

export interface UpstreamTlsFiles {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  /** Accept any certificate and host name: for tests against self-signed brokers only. */
  readonly insecure: boolean;
}

/** What `tls.Server#setSecureContext` and `tls.createServer` take, read fresh from the files. */
export function serverContextOptions(files: ServerTlsFiles): SecureContextOptions {
  return {
    cert: readFileSync(files.cert),
    key: readFileSync(files.key),
    ...(files.clientCa ? { ca: readCaBundle(files.clientCa) } : {}),
  };
}

/**
 * Connection options for amqps:// upstreams. The secure context is built once and rebuilt
 * when a file changes, so a connect never reads the disk. Host name verification is Node's
 * default (`checkServerIdentity` against the SNI name, or the IP address for IP upstreams).
 */
export class UpstreamTls {
  private context: SecureContext;

  constructor(private readonly files: UpstreamTlsFiles) {
    this.context = this.build();
  }

  reload(): void {
    this.context = this.build();
  }

  get paths(): string[] {
    return [this.files.ca, this.files.cert, this.files.key].filter((p): p is string => p !== undefined);
  }

  options(): ConnectionOptions {
    return { secureContext: this.context, rejectUnauthorized: !this.files.insecure };
  }

  private build(): SecureContext {
    const { ca, cert, key } = this.files;
    return createSecureContext({
      ...(ca ? { ca: readCaBundle(ca) } : {}),
      ...(cert && key ? { cert: readFileSync(cert), key: readFileSync(key) } : {}),
    });
  }
}

/**
 * A CA bundle's bytes; throws when it holds no readable certificate, which Node would take
 * silently and then refuse every peer (start-up checks the same, src/config/tlsCheck.ts): a
 * reload then keeps the previous certificates.
 */
function readCaBundle(path: string): Buffer {
  const pem = readFileSync(path);
  const problem = caBundleProblem(pem);
  if (problem !== undefined) throw new Error(`"${path}" ${problem}`);
  return pem;
}

/**
 * Calls `reload` when any of `paths` changes. Polling with stat, like the mode file: a
 * Kubernetes Secret is updated by swapping a symlink, which inotify watches miss. A reload
 * that fails (a half-written file, a key that does not match) keeps the previous
 * certificates and is logged; the next change tries again.
 */
export function watchCertificates(paths: readonly string[], what: string, reload: () => void, logger: Logger): () => void {
  const onChange = (): void => {
    try {
      reload();
      logger.info({ what, files: paths }, 'certificates reloaded');
    } catch (err) {
      logger.warn({ what, files: paths, err: (err as Error).message }, 'certificate reload failed; keeping the previous certificates');
    }
  };
  for (const path of paths) watchFile(path, { interval: POLL_MS, persistent: false }, onChange);
  return () => {
    for (const path of paths) unwatchFile(path, onChange);
  };
}
