/**
 * RFC 6902 operations as the webhook emits them, and RFC 6901 pointers.
 *
 * Only `add` and `replace` are needed: `add` onto an array index inserts, `add` onto
 * `/-` appends, `add` onto an object member creates it. A parent that does not exist is an
 * error for the API server, so callers add whole arrays/maps when the parent is absent.
 */

export type PatchOp =
  | { readonly op: 'add'; readonly path: string; readonly value: unknown }
  | { readonly op: 'replace'; readonly path: string; readonly value: unknown };

/** Joins reference tokens into a pointer; `~` and `/` inside a token are escaped (RFC 6901 §3). */
export function pointer(...tokens: readonly (string | number)[]): string {
  return tokens.map((t) => `/${String(t).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}
