/**
 * Hyperparameter tuning in the SDK: `client.tuning`. Besides studies (create, get, list, progress,
 * cancel, resume) it speaks the worker protocol, so it is a TuningBackend: `runStudy(client.tuning,
 * 'study', objective, { workers: 4 })` evaluates trials in this process while the server hands
 * them out, and workers on other machines join through the same server.
 */
import type { Page } from '../core/pagination.js';
import type { Budget, ClaimOutcome, CreateStudyInput, FinishTrialInput, Study, StudyProgress, Trial, TuningBackend } from '../tuning/index.js';
import type { ListOptions } from './client.js';
import type { TrackingTransport } from './tracking.js';

const enc = encodeURIComponent;

/** `client.tuning`: studies and the worker protocol. */
export class TuningClient implements TuningBackend {
  constructor(private readonly transport: Pick<TrackingTransport, 'request'>) {}

  /** Creates a study (and its tracking run). Throws VALIDATION_FAILED naming every bad field, ALREADY_EXISTS. */
  createStudy(input: CreateStudyInput): Promise<Study> {
    return this.transport.request<Study>('POST', '/api/v1/studies', { body: input });
  }

  /** Throws NOT_FOUND. */
  async getStudy(name: string): Promise<Study> {
    return (await this.progress(name)).study;
  }

  listStudies(o: ListOptions = {}): Promise<Page<Study>> {
    return this.transport.request<Page<Study>>('GET', '/api/v1/studies', { query: { ...o } });
  }

  /** Trials done of the budget, the best so far, elapsed time and an estimate of what is left. Throws NOT_FOUND. */
  progress(name: string): Promise<StudyProgress> {
    return this.transport.request<StudyProgress>('GET', `/api/v1/studies/${enc(name)}`);
  }

  /** Trials of a study by number. Throws NOT_FOUND. */
  async listTrials(name: string): Promise<Trial[]> {
    return (await this.transport.request<{ items: Trial[] }>('GET', `/api/v1/studies/${enc(name)}/trials`)).items;
  }

  /** Stops a study: no new trials; running ones are told to stop. Cancelling twice is harmless. */
  cancelStudy(name: string): Promise<Study> {
    return this.transport.request<Study>('POST', `/api/v1/studies/${enc(name)}/cancel`, { body: {} });
  }

  /** Runs a completed study again with a new budget. Throws CONFLICT for a cancelled study. */
  resumeStudy(name: string, budget: Budget): Promise<Study> {
    return this.transport.request<Study>('POST', `/api/v1/studies/${enc(name)}/resume`, { body: budget });
  }

  /** The next trial for `worker`, or null with why the study hands out no more. */
  claimTrial(study: string, worker: string): Promise<ClaimOutcome> {
    return this.transport.request<ClaimOutcome>('POST', `/api/v1/studies/${enc(study)}/claims`, { body: { worker } });
  }

  async attachRun(trialId: string, runId: string): Promise<void> {
    await this.transport.request<{ ok: boolean }>('POST', `/api/v1/trials/${enc(trialId)}/run`, { body: { runId } });
  }

  reportIntermediate(trialId: string, step: number, value: number): Promise<{ prune: boolean }> {
    return this.transport.request<{ prune: boolean }>('POST', `/api/v1/trials/${enc(trialId)}/intermediate`, { body: { step, value } });
  }

  heartbeat(trialId: string): Promise<{ stop: boolean }> {
    return this.transport.request<{ stop: boolean }>('POST', `/api/v1/trials/${enc(trialId)}/heartbeat`);
  }

  /** Ends a trial as complete (with its value), pruned or failed. Throws CONFLICT when it has already ended. */
  finishTrial(trialId: string, input: FinishTrialInput): Promise<Trial> {
    return this.transport.request<Trial>('POST', `/api/v1/trials/${enc(trialId)}/finish`, { body: input });
  }
}
