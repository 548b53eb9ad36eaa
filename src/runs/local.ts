// /v1/run on a node with a sandbox pool: wait for one of this node's slots (ahead of queued
// submissions), run in it, give it back.
import type { Judge, RunRequest, RunResponse } from '../judge/schema.js';
import type { Slots } from '../queue/slots.js';
import type { RunService } from './types.js';

export class LocalRunService implements RunService {
  constructor(private readonly judge: Judge, private readonly slots: Slots) {}

  async execute(req: RunRequest, signal: AbortSignal): Promise<RunResponse> {
    this.judge.validateRun(req);
    const release = await this.slots.acquireRun(signal);
    try {
      return await this.judge.execute(req, signal);
    } finally {
      release();
    }
  }
}
