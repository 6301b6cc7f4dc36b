"""The GNM: its card, network, preprocessing and context, checkpoints, ONNX export and import, int8
quantisation, the ONNX Runtime engine, and training."""
