"""Post-training quantization: a float model (.tflite, ONNX) in, a TFLite int8 model out.

float graph (codegen.model IR, float32 tensors, NHWC) -> clean-up passes (cleanup) -> calibration with
a numpy float executor (executor, ranges) -> int8 graph (int8) -> .tflite (codegen.model.tflite_write).
"""
