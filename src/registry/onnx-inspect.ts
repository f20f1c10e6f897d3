/**
 * Checks that bytes are an ONNX model onnxruntime can run, and reads its signature. Works for any
 * framework's export: inputs and outputs come from the graph as onnxruntime sees it; a Cairn export
 * adds its full signature in the `cairn.signature` metadata.
 */
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { CairnError } from '../core/errors.js';
import { METADATA_KEYS, type Signature } from '../ml/index.js';
import type { ModelSignature, TensorSpec } from './model.js';

function refuse(field: string, reason: string): CairnError {
  return CairnError.validation([{ path: field, reason }], `${field} is not a usable ONNX model: ${reason}`);
}

function tensorSpecs(metadata: readonly ort.InferenceSession.ValueMetadata[]): TensorSpec[] {
  return metadata.map((m) => (m.isTensor ? { name: m.name, type: m.type, shape: [...m.shape] } : { name: m.name, type: 'non-tensor', shape: [] }));
}

/** The Cairn signature in the metadata, when it is there and well formed. */
function cairnSignature(json: string | undefined, field: string): Signature | null {
  if (json === undefined) return null;
  try {
    const s = JSON.parse(json) as Signature;
    const inputsOk = Array.isArray(s.inputs) && s.inputs.every((i) => typeof i?.name === 'string' && (i.kind === 'numeric' || i.kind === 'categorical'));
    if ((s.task === 'binary' || s.task === 'regression') && inputsOk && typeof s.label === 'string') return s;
  } catch {
    // reported below
  }
  throw refuse(field, `its metadata ${METADATA_KEYS.signature} is not a Cairn signature`);
}

/**
 * Decodes the model, loads it in onnxruntime (the same runtime serving uses) and returns its
 * signature. Never keeps the session.
 * @throws VALIDATION_FAILED naming `field` when the bytes are empty, not ONNX, or onnxruntime
 *   refuses the graph (unknown operators, bad opset…)
 */
export async function inspectOnnx(bytes: Uint8Array, field = 'file'): Promise<ModelSignature> {
  if (bytes.length === 0) throw refuse(field, 'the file is empty');
  let props: Map<string, string>;
  let producer: string | null;
  try {
    const model = onnxProto.onnx.ModelProto.decode(bytes);
    if (!model.graph) throw new Error('it has no graph');
    props = new Map(model.metadataProps.map((p) => [p.key ?? '', p.value ?? '']));
    producer = model.producerName || null;
  } catch (err) {
    throw refuse(field, `it does not decode as an ONNX ModelProto (${(err as Error).message})`);
  }
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3, intraOpNumThreads: 1, interOpNumThreads: 1 });
  } catch (err) {
    throw refuse(field, `onnxruntime cannot load it: ${(err as Error).message}`);
  }
  try {
    return {
      inputs: tensorSpecs(session.inputMetadata),
      outputs: tensorSpecs(session.outputMetadata),
      cairn: cairnSignature(props.get(METADATA_KEYS.signature), field),
      producer,
      modelType: props.get(METADATA_KEYS.modelType) ?? null,
    };
  } finally {
    await session.release();
  }
}
