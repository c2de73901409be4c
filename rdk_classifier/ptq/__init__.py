"""Post-training quantization tools: offline, never on the per-frame path.

calibration (tensor sets for hb_mapper and ONNX Runtime), quantization (CPU int8 preview),
similarity (int8 vs fp32 report), toolchain (hb_mapper YAML and model inspection).
"""
