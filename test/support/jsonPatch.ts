/**
 * A strict RFC 6902 applier for tests, written independently of src/webhook so a patch the
 * webhook gets wrong fails here instead of being "fixed" by the same misunderstanding. It
 * refuses what the API server refuses: a missing parent, an index past the end, `replace` or
 * `remove` of a member that does not exist, a failed `test`.
 */

export interface Operation {
  op: string;
  path: string;
  value?: unknown;
  from?: string;
}

export class PatchError extends Error {}

/** Returns a patched copy; the input is never modified. */
export function applyPatch<T>(doc: T, ops: readonly Operation[]): T {
  let root: unknown = structuredClone(doc);
  for (const [i, op] of ops.entries()) {
    try {
      root = applyOne(root, op);
    } catch (err) {
      throw new PatchError(`operation ${i} (${op.op} ${op.path}): ${(err as Error).message}`);
    }
  }
  return root as T;
}

/** RFC 6901: "~1" before "~0", so "~01" decodes to "~1", not "/". */
export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new PatchError(`pointer "${pointer}" does not start with /`);
  return pointer.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function applyOne(root: unknown, op: Operation): unknown {
  switch (op.op) {
    case 'add': return add(root, op.path, requireValue(op));
    case 'replace': remove(root, op.path); return add(root, op.path, requireValue(op));
    case 'remove': return remove(root, op.path).root;
    case 'test': {
      if (JSON.stringify(get(root, op.path)) !== JSON.stringify(op.value)) throw new Error('test failed');
      return root;
    }
    case 'move': {
      const { root: r, value } = remove(root, requireFrom(op));
      return add(r, op.path, value);
    }
    case 'copy': return add(root, op.path, structuredClone(get(root, requireFrom(op))));
    default: throw new Error(`unknown op "${op.op}"`);
  }
}

function requireValue(op: Operation): unknown {
  if (!('value' in op)) throw new Error('no value');
  return structuredClone(op.value);
}

function requireFrom(op: Operation): string {
  if (typeof op.from !== 'string') throw new Error('no from');
  return op.from;
}

function parentOf(root: unknown, pointer: string): { parent: unknown; key: string } {
  const tokens = parsePointer(pointer);
  const key = tokens.pop();
  if (key === undefined) throw new Error('the root has no parent');
  let parent = root;
  for (const t of tokens) parent = child(parent, t);
  return { parent, key };
}

function child(node: unknown, token: string): unknown {
  if (Array.isArray(node)) return node[arrayIndex(node, token, false)];
  if (isObject(node)) {
    if (!Object.prototype.hasOwnProperty.call(node, token)) throw new Error(`no member "${token}"`);
    return node[token];
  }
  throw new Error(`cannot descend into a ${node === null ? 'null' : typeof node} with "${token}"`);
}

function get(root: unknown, pointer: string): unknown {
  let node = root;
  for (const t of parsePointer(pointer)) node = child(node, t);
  return node;
}

function add(root: unknown, pointer: string, value: unknown): unknown {
  if (pointer === '') return value;
  const { parent, key } = parentOf(root, pointer);
  if (Array.isArray(parent)) {
    if (key === '-') parent.push(value);
    else parent.splice(arrayIndex(parent, key, true), 0, value);
  } else if (isObject(parent)) {
    parent[key] = value;
  } else {
    throw new Error('parent is not a container');
  }
  return root;
}

function remove(root: unknown, pointer: string): { root: unknown; value: unknown } {
  const { parent, key } = parentOf(root, pointer);
  if (Array.isArray(parent)) {
    const [value] = parent.splice(arrayIndex(parent, key, false), 1);
    return { root, value };
  }
  if (isObject(parent)) {
    if (!Object.prototype.hasOwnProperty.call(parent, key)) throw new Error(`no member "${key}" to remove or replace`);
    const value = parent[key];
    delete parent[key];
    return { root, value };
  }
  throw new Error('parent is not a container');
}

function arrayIndex(arr: unknown[], token: string, forInsert: boolean): number {
  if (!/^(0|[1-9]\d*)$/.test(token)) throw new Error(`"${token}" is not an array index`);
  const i = Number(token);
  if (i > arr.length || (!forInsert && i === arr.length)) throw new Error(`index ${i} is past the end (length ${arr.length})`);
  return i;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
