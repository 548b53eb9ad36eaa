// The "go" message that starts a pre-warmed cell: everything that differs per run, laid
// out for gavel-init (native/init.c; items in native/protocol.h) as 8-byte-aligned items.
import { GO_HEADER_SIZE, GO_ITEM_HEADER_SIZE, GO_MAGIC, Item as I } from './protocol.js';

export class GoMessage {
  private parts: Buffer[] = [];
  /** fds sent along: 0-2 are the program's stdio, then one per mount. */
  readonly fds: number[];

  constructor(stdio: [number, number, number]) {
    this.fds = [...stdio];
    const head = Buffer.alloc(GO_HEADER_SIZE);
    head.writeUInt32LE(GO_MAGIC, 0);
    this.parts.push(head);
  }

  private item(type: number, payload: Buffer): this {
    const h = Buffer.alloc(GO_ITEM_HEADER_SIZE);
    h.writeUInt32LE(type, 0);
    h.writeUInt32LE(payload.length, 4);
    this.parts.push(h, payload);
    const pad = (8 - (payload.length % 8)) % 8;
    if (pad) this.parts.push(Buffer.alloc(pad));
    return this;
  }

  private static str(s: string): Buffer {
    if (s.includes('\0')) throw new Error(`argument, environment entry or path contains a NUL byte: ${JSON.stringify(s.slice(0, 40))}`);
    return Buffer.from(s + '\0');
  }

  ids(uid: number, gid: number): this {
    const b = Buffer.alloc(8);
    b.writeUInt32LE(uid, 0);
    b.writeUInt32LE(gid, 4);
    return this.item(I.IDS, b);
  }

  rlimit(resource: number, soft: number, hard = soft): this {
    const b = Buffer.alloc(24);
    b.writeUInt32LE(resource, 0);
    b.writeBigUInt64LE(BigInt(Math.floor(soft)), 8);
    b.writeBigUInt64LE(BigInt(Math.floor(hard)), 16);
    return this.item(I.RLIMIT, b);
  }

  /** Attach the detached mount tree `treeFd` at `target` inside the sandbox. */
  mount(treeFd: number, target: string): this {
    this.fds.push(treeFd);
    const idx = Buffer.alloc(4);
    idx.writeUInt32LE(this.fds.length - 1, 0);
    return this.item(I.MOUNT, Buffer.concat([idx, GoMessage.str(target)]));
  }

  tmp(options: string): this {
    return this.item(I.TMP, GoMessage.str(options));
  }

  filter(bpf: Buffer): this {
    return this.item(I.FILTER, bpf);
  }

  argv(args: string[]): this {
    for (const a of args) this.item(I.ARG, GoMessage.str(a));
    return this;
  }

  env(entries: string[]): this {
    for (const e of entries) this.item(I.ENV, GoMessage.str(e));
    return this;
  }

  chdir(path: string): this {
    return this.item(I.CHDIR, GoMessage.str(path));
  }

  /** Ask init for this run's phase times (TRACE records; see notes.ts). */
  trace(): this {
    return this.item(I.TRACE, Buffer.alloc(0));
  }

  build(): Buffer {
    return Buffer.concat(this.parts);
  }
}
