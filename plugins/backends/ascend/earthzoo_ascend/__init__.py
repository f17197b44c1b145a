"""Huawei Ascend backend for earthzoo: torch_npu and MindSpore Ascend, custom ops, npu-smi energy."""
