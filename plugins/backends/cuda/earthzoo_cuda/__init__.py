"""NVIDIA CUDA backend for earthzoo: device setup, mixed precision, memory scheduling, NVML energy."""
