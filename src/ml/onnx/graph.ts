/**
 * A small builder for ONNX graphs on top of onnx-proto's generated message classes: it hands out
 * unique tensor names, types attributes explicitly (so an integer-valued float attribute is never
 * mistaken for an int) and encodes the final ModelProto. Only what the exporter needs.
 */
import onnxProto from 'onnx-proto';

export const onnx = onnxProto.onnx;
export type OnnxModelProto = InstanceType<typeof onnx.ModelProto>;
type NodeProto = ConstructorParameters<typeof onnx.NodeProto>[0] & object;
type TensorProto = ConstructorParameters<typeof onnx.TensorProto>[0] & object;
type AttributeProto = ConstructorParameters<typeof onnx.AttributeProto>[0] & object;
type ValueInfoProto = ConstructorParameters<typeof onnx.ValueInfoProto>[0] & object;

export const DataType = onnx.TensorProto.DataType;
export type ElemType = 'double' | 'float' | 'string' | 'int64';

const ELEM: Record<ElemType, number> = {
  double: DataType.DOUBLE,
  float: DataType.FLOAT,
  string: DataType.STRING,
  int64: DataType.INT64,
};

/** An attribute value with its ONNX type spelled out. */
export type AttrValue =
  | { int: number }
  | { float: number }
  | { string: string }
  | { ints: number[] }
  | { floats: number[] }
  | { strings: string[] }
  | { doubleTensor: number[] };

const utf8 = new TextEncoder();
const A = onnx.AttributeProto.AttributeType;

function attribute(name: string, v: AttrValue): AttributeProto {
  if ('int' in v) return { name, type: A.INT, i: v.int };
  if ('float' in v) return { name, type: A.FLOAT, f: v.float };
  if ('string' in v) return { name, type: A.STRING, s: utf8.encode(v.string) };
  if ('ints' in v) return { name, type: A.INTS, ints: v.ints };
  if ('floats' in v) return { name, type: A.FLOATS, floats: v.floats };
  if ('strings' in v) {
    // Long lists repeat a few values (tree node modes): encode each distinct string once.
    const cache = new Map<string, Uint8Array>();
    const encodeOnce = (s: string): Uint8Array => {
      let b = cache.get(s);
      if (b === undefined) cache.set(s, (b = utf8.encode(s)));
      return b;
    };
    return { name, type: A.STRINGS, strings: v.strings.map(encodeOnce) };
  }
  return { name, type: A.TENSOR, t: doubleTensor('', v.doubleTensor, [v.doubleTensor.length]) };
}

/** A double tensor stored as little-endian raw bytes (compact and fast to encode). */
export function doubleTensor(name: string, values: ArrayLike<number>, dims: number[]): TensorProto {
  const raw = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) raw[i] = values[i] as number;
  return { name, dims, dataType: DataType.DOUBLE, rawData: littleEndianBytes(raw) };
}

export function int64Tensor(name: string, values: number[], dims: number[]): TensorProto {
  return { name, dims, dataType: DataType.INT64, int64Data: values };
}

function littleEndianBytes(a: Float64Array): Uint8Array {
  const bytes = new Uint8Array(a.byteLength);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < a.length; i++) view.setFloat64(i * 8, a[i] as number, true);
  return bytes;
}

/** A tensor type with a shape whose entries are fixed sizes or symbolic names (`'N'`). */
export function valueInfo(name: string, elem: ElemType, shape: (number | string)[], doc?: string): ValueInfoProto {
  return {
    name,
    ...(doc ? { docString: doc } : {}),
    type: {
      tensorType: {
        elemType: ELEM[elem],
        shape: { dim: shape.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

export const ONNX_DOMAIN = '';
export const ML_DOMAIN = 'ai.onnx.ml';

export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly taken = new Set<string>();
  private counter = 0;

  /** `reserved`: names the graph's inputs and outputs use, which internal names must avoid. */
  constructor(reserved: Iterable<string>) {
    for (const name of reserved) this.taken.add(name);
  }

  /** A fresh internal tensor name starting with `cairn/<hint>`. */
  fresh(hint: string): string {
    let name: string;
    do name = `cairn/${hint}/${this.counter++}`;
    while (this.taken.has(name));
    this.taken.add(name);
    return name;
  }

  /** Adds a node writing `output` (a name from `fresh` or a graph output) and returns that name. */
  op(opType: string, inputs: string[], output: string, attrs: Record<string, AttrValue> = {}, domain = ONNX_DOMAIN): string {
    this.nodes.push({
      name: `${opType}_${this.nodes.length}`,
      opType,
      domain,
      input: inputs,
      output: [output],
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return output;
  }

  constDouble(hint: string, values: ArrayLike<number>, dims: number[]): string {
    const name = this.fresh(hint);
    this.initializers.push(doubleTensor(name, values, dims));
    return name;
  }

  constInt64(hint: string, values: number[], dims: number[]): string {
    const name = this.fresh(hint);
    this.initializers.push(int64Tensor(name, values, dims));
    return name;
  }
}

export interface ModelParts {
  irVersion: number;
  opsets: { domain: string; version: number }[];
  producerVersion: string;
  docString: string;
  graphName: string;
  graph: GraphBuilder;
  inputs: ValueInfoProto[];
  outputs: ValueInfoProto[];
  metadata: Record<string, string>;
}

export function encodeModel(p: ModelParts): Uint8Array {
  const message = onnx.ModelProto.create({
    irVersion: p.irVersion,
    opsetImport: p.opsets,
    producerName: 'cairn',
    producerVersion: p.producerVersion,
    docString: p.docString,
    graph: {
      name: p.graphName,
      node: p.graph.nodes,
      initializer: p.graph.initializers,
      input: p.inputs,
      output: p.outputs,
    },
    metadataProps: Object.entries(p.metadata).map(([key, value]) => ({ key, value })),
  });
  return onnx.ModelProto.encode(message).finish();
}

/** Decodes a ModelProto; throws protobufjs's error on bytes that are not one. */
export function decodeModel(bytes: Uint8Array): OnnxModelProto {
  return onnx.ModelProto.decode(bytes);
}
