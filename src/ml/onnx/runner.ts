/**
 * Runs a Cairn ONNX model (see `exportOnnx`) with onnxruntime-node. Serving builds on this: load
 * once, then call `run` per request or batch; the session is reused and a call allocates only its
 * input tensors and the result.
 */
import { readFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import { CairnError, type FieldError } from '../../core/errors.js';
import type { Frame, Signature } from '../model.js';
import { METADATA_KEYS, type OnnxOutputNames } from './export.js';
import { decodeModel } from './graph.js';

/** One request row: numbers (or null) for numeric inputs, strings (or null) for categoricals. */
export type InputRow = Readonly<Record<string, unknown>>;

export interface OnnxRunnerOptions {
  /** Threads for one run; 1 (the default) suits many concurrent small requests. */
  intraOpThreads?: number;
}

interface InputPlan {
  name: string;
  kind: 'numeric' | 'categorical';
  vocabulary: string[];
}

export class OnnxModelRunner {
  readonly signature: Signature;
  readonly modelType: string;
  readonly outputs: OnnxOutputNames;
  /** Version of Cairn that exported the model. */
  readonly exportedBy: string;
  private readonly plan: InputPlan[];
  private readonly fetches: string[];
  /** A string outside every vocabulary: what a missing categorical is sent as. */
  private readonly missing: string;

  private constructor(
    private readonly session: ort.InferenceSession,
    meta: { signature: Signature; modelType: string; outputs: OnnxOutputNames; version: string },
  ) {
    this.signature = meta.signature;
    this.modelType = meta.modelType;
    this.outputs = meta.outputs;
    this.exportedBy = meta.version;
    this.plan = meta.signature.inputs.map((i) => ({ name: i.name, kind: i.kind, vocabulary: i.kind === 'categorical' ? i.vocabulary : [] }));
    this.fetches = [meta.outputs.primary];
    const all = new Set(this.plan.flatMap((p) => p.vocabulary));
    // No NUL in it: onnxruntime-node passes strings as C strings ('a\0b' arrives as 'a').
    let missing = 'cairn:missing';
    while (all.has(missing)) missing += '#';
    this.missing = missing;
  }

  /**
   * Loads a model exported by `exportOnnx` from its bytes or a file path.
   *
   * @throws CairnError BAD_REQUEST when the bytes are not an ONNX model, lack Cairn's metadata, or
   *   onnxruntime refuses the graph; NOT_FOUND when the path does not exist.
   */
  static async load(source: Uint8Array | string, options: OnnxRunnerOptions = {}): Promise<OnnxModelRunner> {
    let bytes: Uint8Array;
    if (typeof source === 'string') {
      try {
        bytes = await readFile(source);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new CairnError('NOT_FOUND', `ONNX model file ${source} not found`);
        throw err;
      }
    } else {
      bytes = source;
    }
    const meta = readMetadata(bytes);
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, {
        graphOptimizationLevel: 'all',
        intraOpNumThreads: options.intraOpThreads ?? 1,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        logSeverityLevel: 3,
      });
    } catch (err) {
      throw new CairnError('BAD_REQUEST', `onnxruntime cannot load the model: ${(err as Error).message}`);
    }
    return new OnnxModelRunner(session, meta);
  }

  /**
   * Predicts for a Frame (the trainers' columnar batch) or for row objects (serving). Returns the
   * positive-class probability (binary) or the value (regression) per row.
   *
   * Rows: a numeric input takes a number, or null/undefined/NaN for missing; a categorical takes a
   * string (one outside the vocabulary counts as missing), or null/undefined for missing.
   * Frames: numeric columns are Float64Array (NaN missing), categorical columns Int32Array codes
   * (-1 or out of range missing).
   *
   * @throws CairnError VALIDATION_FAILED listing every missing column or wrongly typed value.
   */
  async run(input: Frame | readonly InputRow[]): Promise<Float64Array> {
    const feeds = Array.isArray(input) ? this.feedsFromRows(input as readonly InputRow[]) : this.feedsFromFrame(input as Frame);
    const out = await this.session.run(feeds, this.fetches);
    const data = out[this.outputs.primary]!.data as Float32Array;
    return Float64Array.from(data);
  }

  /** Frees the native session; the runner cannot be used afterwards. */
  async close(): Promise<void> {
    await this.session.release();
  }

  private feedsFromFrame(frame: Frame): Record<string, ort.Tensor> {
    const n = frame.rows;
    const errors: FieldError[] = [];
    const feeds: Record<string, ort.Tensor> = {};
    for (const p of this.plan) {
      const col = frame.columns[p.name];
      const path = `columns.${p.name}`;
      if (col === undefined) {
        errors.push({ path, reason: 'is missing' });
      } else if (col.length < n) {
        errors.push({ path, reason: `has ${col.length} values for ${n} rows` });
      } else if (p.kind === 'numeric') {
        if (!(col instanceof Float64Array)) errors.push({ path, reason: 'expected a Float64Array (numeric input)' });
        else feeds[p.name] = new ort.Tensor('float64', col.length === n ? col : col.subarray(0, n), [n, 1]);
      } else if (!(col instanceof Int32Array)) {
        errors.push({ path, reason: 'expected an Int32Array of vocabulary codes (categorical input)' });
      } else {
        const strings = new Array<string>(n);
        const vocab = p.vocabulary;
        for (let r = 0; r < n; r++) strings[r] = vocab[col[r]!] ?? this.missing;
        feeds[p.name] = new ort.Tensor('string', strings, [n, 1]);
      }
    }
    if (errors.length > 0) throw CairnError.validation(errors);
    return feeds;
  }

  private feedsFromRows(rows: readonly InputRow[]): Record<string, ort.Tensor> {
    const n = rows.length;
    const errors: FieldError[] = [];
    const feeds: Record<string, ort.Tensor> = {};
    for (const p of this.plan) {
      if (p.kind === 'numeric') {
        const values = new Float64Array(n);
        for (let r = 0; r < n; r++) {
          const v = rows[r]![p.name];
          if (typeof v === 'number') values[r] = v;
          else if (v === null || v === undefined) values[r] = NaN;
          else errors.push({ path: `[${r}].${p.name}`, reason: `expected a number or null, got ${describe(v)}` });
        }
        feeds[p.name] = new ort.Tensor('float64', values, [n, 1]);
      } else {
        const strings = new Array<string>(n);
        for (let r = 0; r < n; r++) {
          const v = rows[r]![p.name];
          // A NUL would cut the string short inside onnxruntime ('ATL\0x' would match 'ATL');
          // no vocabulary entry contains one, so such a value is simply unseen.
          if (typeof v === 'string') strings[r] = v.includes('\u0000') ? this.missing : v;
          else if (v === null || v === undefined) strings[r] = this.missing;
          else {
            errors.push({ path: `[${r}].${p.name}`, reason: `expected a string or null, got ${describe(v)}` });
            strings[r] = this.missing;
          }
        }
        feeds[p.name] = new ort.Tensor('string', strings, [n, 1]);
      }
    }
    if (errors.length > 0) throw CairnError.validation(errors);
    return feeds;
  }
}

function describe(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : Array.isArray(v) ? 'an array' : typeof v;
}

function readMetadata(bytes: Uint8Array): { signature: Signature; modelType: string; outputs: OnnxOutputNames; version: string } {
  let props: Map<string, string>;
  try {
    const model = decodeModel(bytes);
    props = new Map(model.metadataProps.map((p) => [p.key ?? '', p.value ?? '']));
  } catch (err) {
    throw new CairnError('BAD_REQUEST', `not an ONNX model: ${(err as Error).message}`);
  }
  const signatureJson = props.get(METADATA_KEYS.signature);
  const outputsJson = props.get(METADATA_KEYS.outputs);
  if (signatureJson === undefined || outputsJson === undefined) {
    throw new CairnError('BAD_REQUEST', `not a Cairn ONNX model: metadata '${METADATA_KEYS.signature}' or '${METADATA_KEYS.outputs}' is missing`);
  }
  try {
    const signature = JSON.parse(signatureJson) as Signature;
    const outputs = JSON.parse(outputsJson) as OnnxOutputNames;
    if (!Array.isArray(signature.inputs) || typeof outputs.primary !== 'string') throw new Error('unexpected shape');
    return { signature, outputs, modelType: props.get(METADATA_KEYS.modelType) ?? 'unknown', version: props.get(METADATA_KEYS.version) ?? 'unknown' };
  } catch (err) {
    throw new CairnError('BAD_REQUEST', `not a Cairn ONNX model: bad metadata (${(err as Error).message})`);
  }
}
