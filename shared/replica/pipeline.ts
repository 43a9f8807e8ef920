// The steps of a sync as a pipeline: a step's downloads start as soon as its records are planned, while the step
// before still downloads its last objects or commits (renames into cur/, the uidlist, the journal, the cursor, each
// fsynced); commits run one at a time, in the steps' order. Without it every step ended in a barrier: no download
// while a step's slowest objects were read and while it committed, so fewer requests were in flight than the
// concurrency allows (docs/benchmarks.md, "Sync"). At most two steps are under way: memory stays a step's records.

/** A step whose downloads have started: what commits it, and what removes its downloads when it cannot commit. */
export interface PipelineStep {
  /** Waits for the step's downloads and commits them (the cursor is saved last). */
  commit(): Promise<void>;
  /** Waits for the step's downloads and removes what they staged (a step before it failed). */
  abandon(): Promise<void>;
}

export class StepPipeline {
  /** The commit of the latest step started, and of the one before it. */
  private last: Promise<void> = Promise.resolve();
  private beforeLast: Promise<void> = Promise.resolve();
  /** A step failed to commit: the steps after it are abandoned, and stop taking new downloads. */
  failed = false;

  /**
   * Starts a step (`start` plans it and starts its downloads) once the step two before it has committed, and
   * queues its commit after the step before it. Throws what an earlier step threw, or what `start` threw once the
   * steps before it have committed (a conflict found while planning leaves the earlier steps applied), every step
   * under way settled first: nothing is still writing when it throws.
   */
  async push(start: () => Promise<PipelineStep>): Promise<void> {
    await this.settledOnFailure(this.beforeLast);
    let step: PipelineStep;
    try {
      step = await start();
    } catch (error) {
      // The steps before commit whole (the one under way keeps downloading: its cursor moves past all of it).
      await this.settledOnFailure(this.last);
      throw error;
    }
    const previous = this.last;
    this.beforeLast = previous;
    this.last = (async () => {
      try {
        await previous;
      } catch (error) {
        await step.abandon();
        throw error;
      }
      try {
        await step.commit();
      } catch (error) {
        this.failed = true;
        throw error;
      }
    })();
    this.last.catch(() => undefined);
  }

  /** Waits for every step started to commit. Throws the first failure. */
  async drain(): Promise<void> {
    await this.settledOnFailure(this.last);
  }

  /** Waits for `commit`; when it failed, for every step under way to settle too, then throws its error. */
  private async settledOnFailure(commit: Promise<void>): Promise<void> {
    try {
      await commit;
    } catch (error) {
      this.failed = true;
      await this.last.catch(() => undefined);
      throw error;
    }
  }
}
