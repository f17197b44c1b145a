"""Sugon DCU (ROCm/DTK) backend for earthzoo: device setup, fp16 policy, hy-smi/rocm-smi energy."""
