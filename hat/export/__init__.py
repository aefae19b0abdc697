"""Export machinery: the ONNX graph builder and the per-layer emitters. The public face is
hat.onnx (export, verify, register)."""
