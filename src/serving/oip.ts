/**
 * The Open Inference Protocol v2 (KServe, Triton, Seldon MLServer) tensor format, translated to and
 * from Cairn's instances. A request carries one tensor per model input (or entity key column),
 * named as the input, shape `[N]` or `[N, 1]`, numeric inputs as FP, INT or UINT types and categorical
 * ones as BYTES; row i of every tensor is instance i, which is then checked and predicted exactly
 * like a `/v1` instance. The response has one tensor per output: `probability` (FP64) and `label`
 * (INT64) for a binary classifier, `value` (FP64) for a regressor, and `prediction_id` (BYTES), the
 * ids the prediction log and feedback know them by.
 */
import { closestName } from '../core/did-you-mean.js';
import { CairnError, type FieldError } from '../core/errors.js';
import { describeValue, type InputPlan, type PathOf } from './instance-validation.js';
import type { PredictionBatch } from './predictor.js';
import type { ServedVersion } from './served-version.js';

const NUMERIC_TYPES = new Set(['FP16', 'FP32', 'FP64', 'INT8', 'INT16', 'INT32', 'INT64', 'UINT8', 'UINT16', 'UINT32', 'UINT64']);
const ALL_TYPES = new Set([...NUMERIC_TYPES, 'BOOL', 'BYTES']);

export interface TensorMetadata {
  name: string;
  datatype: string;
  shape: number[];
}

export interface OipTensor extends TensorMetadata {
  data: (number | string)[];
}

/** Output tensors a version answers with, in order. */
export function outputTensors(served: ServedVersion): TensorMetadata[] {
  const outputs: TensorMetadata[] =
    served.task === 'binary'
      ? [
          { name: 'probability', datatype: 'FP64', shape: [-1] },
          { name: 'label', datatype: 'INT64', shape: [-1] },
        ]
      : [{ name: 'value', datatype: 'FP64', shape: [-1] }];
  outputs.push({ name: 'prediction_id', datatype: 'BYTES', shape: [-1] });
  return outputs;
}

/** `GET /v2/models/{name}`: the model's metadata in OIP form. */
export function modelMetadata(name: string, served: ServedVersion): { name: string; versions: string[]; platform: string; inputs: TensorMetadata[]; outputs: TensorMetadata[] } {
  return {
    name,
    versions: [String(served.version)],
    platform: 'onnxruntime_onnx',
    inputs: served.plan.inputs.map((i) => ({ name: i.name, datatype: i.kind === 'numeric' ? 'FP64' : 'BYTES', shape: [-1, 1] })),
    outputs: outputTensors(served),
  };
}

export interface OipRequest {
  id: string | null;
  instances: Record<string, unknown>[];
  pathOf: PathOf;
  /** Output names asked for; null for all. */
  outputs: string[] | null;
}

function flatten(data: unknown, out: unknown[]): boolean {
  if (!Array.isArray(data)) return false;
  for (const x of data) {
    if (Array.isArray(x)) {
      if (!flatten(x, out)) return false;
    } else out.push(x);
  }
  return true;
}

/**
 * Reads an inference request into instances. @throws VALIDATION_FAILED naming every problem with
 * its path in the request (`inputs[1].datatype`)
 */
export function readInferRequest(body: unknown, plan: InputPlan): OipRequest {
  const errors: FieldError[] = [];
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw CairnError.validation([{ path: 'body', reason: 'expected an inference request object with inputs' }]);
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b)) if (!['id', 'parameters', 'inputs', 'outputs'].includes(key)) errors.push({ path: key, reason: 'unknown field; an inference request has id, parameters, inputs, outputs' });
  if (b.id !== undefined && typeof b.id !== 'string') errors.push({ path: 'id', reason: `expected a string, got ${describeValue(b.id)}` });
  const tensors: { name: string; values: unknown[]; index: number }[] = [];
  if (!Array.isArray(b.inputs) || b.inputs.length === 0) errors.push({ path: 'inputs', reason: 'expected a non-empty array of input tensors' });
  else {
    const seen = new Set<string>();
    b.inputs.forEach((raw, j) => {
      const p = `inputs[${j}]`;
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return void errors.push({ path: p, reason: 'expected a tensor {name, shape, datatype, data}' });
      const t = raw as Record<string, unknown>;
      for (const key of Object.keys(t)) if (!['name', 'shape', 'datatype', 'parameters', 'data'].includes(key)) errors.push({ path: `${p}.${key}`, reason: 'unknown field' });
      const before = errors.length;
      if (typeof t.name !== 'string') errors.push({ path: `${p}.name`, reason: 'expected a string' });
      else if (!plan.byName.has(t.name) && !plan.keyColumns.has(t.name)) {
        const hint = closestName(t.name, plan.known);
        errors.push({ path: `${p}.name`, reason: `unknown input ${JSON.stringify(t.name)}${hint ? ` (did you mean ${hint}?)` : ''}; the model takes ${plan.known.join(', ')}` });
      } else if (seen.has(t.name)) errors.push({ path: `${p}.name`, reason: `input ${t.name} is given twice` });
      const shapeOk = Array.isArray(t.shape) && t.shape.length >= 1 && t.shape.length <= 2 && t.shape.every((d) => Number.isInteger(d) && (d as number) >= 0) && (t.shape.length === 1 || t.shape[1] === 1);
      if (!shapeOk) errors.push({ path: `${p}.shape`, reason: 'expected [N] or [N, 1]: one value per instance' });
      const rule = typeof t.name === 'string' ? plan.byName.get(t.name) : undefined;
      if (typeof t.datatype !== 'string' || !ALL_TYPES.has(t.datatype)) errors.push({ path: `${p}.datatype`, reason: `expected one of ${[...ALL_TYPES].join(', ')}` });
      else if (rule?.kind === 'numeric' && !NUMERIC_TYPES.has(t.datatype)) errors.push({ path: `${p}.datatype`, reason: `${rule.name} is numeric: expected FP64, FP32 or an integer type, got ${t.datatype}` });
      else if (rule?.kind === 'categorical' && t.datatype !== 'BYTES' && !NUMERIC_TYPES.has(t.datatype)) errors.push({ path: `${p}.datatype`, reason: `${rule.name} is categorical: expected BYTES, got ${t.datatype}` });
      const values: unknown[] = [];
      if (!flatten(t.data, values)) errors.push({ path: `${p}.data`, reason: 'expected an array of values' });
      else if (shapeOk && values.length !== (t.shape as number[])[0]) errors.push({ path: `${p}.data`, reason: `has ${values.length} values for shape [${(t.shape as number[]).join(', ')}]` });
      if (errors.length === before) {
        seen.add(t.name as string);
        tensors.push({ name: t.name as string, values, index: j });
      }
    });
  }
  let outputs: string[] | null = null;
  if (b.outputs !== undefined) {
    if (!Array.isArray(b.outputs)) errors.push({ path: 'outputs', reason: 'expected an array of {name}' });
    else {
      outputs = [];
      b.outputs.forEach((o, k) => {
        const name = o !== null && typeof o === 'object' ? (o as { name?: unknown }).name : undefined;
        if (typeof name !== 'string') errors.push({ path: `outputs[${k}].name`, reason: 'expected a string' });
        else outputs!.push(name);
      });
    }
  }
  const n = tensors[0]?.values.length ?? 0;
  for (const t of tensors) if (t.values.length !== n) errors.push({ path: `inputs[${t.index}].shape`, reason: `has ${t.values.length} rows, inputs[${tensors[0]!.index}] has ${n}` });
  if (errors.length > 0) throw CairnError.validation(errors);

  const instances = new Array<Record<string, unknown>>(n);
  for (let i = 0; i < n; i++) {
    const inst: Record<string, unknown> = {};
    for (const t of tensors) inst[t.name] = t.values[i];
    instances[i] = inst;
  }
  const tensorIndex = new Map(tensors.map((t) => [t.name, t.index]));
  const pathOf: PathOf = (i, field) => {
    if (field === null) return `inputs[*].data[${i}]`;
    const j = tensorIndex.get(field);
    return j === undefined ? `inputs.${field}` : `inputs[${j}].data[${i}]`;
  };
  return { id: typeof b.id === 'string' ? b.id : null, instances, pathOf, outputs };
}

/** Problems of a missing tensor repeat once per row: one of each is enough. */
export function dedupeErrors(err: unknown): unknown {
  if (!(err instanceof CairnError) || err.code !== 'VALIDATION_FAILED') return err;
  const errors = err.details.errors as FieldError[];
  const seen = new Set<string>();
  const unique = errors.filter((e) => {
    const key = `${e.path}\u0000${e.reason}`;
    return seen.has(key) ? false : (seen.add(key), true);
  });
  return unique.length === errors.length ? err : CairnError.validation(unique);
}

/** Checks the outputs a request asks for, before anything runs. @throws VALIDATION_FAILED naming each unknown one */
export function checkOutputs(served: ServedVersion, request: OipRequest): void {
  if (request.outputs === null) return;
  const available = outputTensors(served).map((o) => o.name);
  const errors: FieldError[] = [];
  request.outputs.forEach((name, k) => {
    if (!available.includes(name)) errors.push({ path: `outputs[${k}].name`, reason: `unknown output ${JSON.stringify(name)}; the model has ${available.join(', ')}` });
  });
  if (errors.length > 0) throw CairnError.validation(errors);
}

/** The inference response for a batch, with the outputs asked for (checked by `checkOutputs`). */
export function inferResponse(name: string, batch: PredictionBatch, request: OipRequest): Record<string, unknown> {
  const available = outputTensors(batch.served);
  const wanted = request.outputs ?? available.map((o) => o.name);
  const n = batch.ids.length;
  const threshold = batch.served.threshold;
  const tensor = (meta: TensorMetadata): OipTensor => {
    let data: (number | string)[];
    if (meta.name === 'prediction_id') data = batch.ids;
    else if (meta.name === 'label') data = Array.from(batch.values, (p) => (p > threshold ? 1 : 0));
    else data = Array.from(batch.values);
    return { name: meta.name, datatype: meta.datatype, shape: [n], data };
  };
  return {
    model_name: name,
    model_version: String(batch.served.version),
    ...(request.id !== null ? { id: request.id } : {}),
    outputs: available.filter((o) => wanted.includes(o.name)).map(tensor),
  };
}
