/** ONNX export of Cairn's models and a runner for them (see export.ts for the graph's design). */
export { exportOnnx, METADATA_KEYS, ONNX_IR_VERSION, ONNX_ML_OPSET, ONNX_OPSET, type OnnxOutputNames } from './export.js';
export { OnnxModelRunner, type InputRow, type OnnxRunnerOptions } from './runner.js';
