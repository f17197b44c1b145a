"""FourCastNet (AFNO) for earthzoo: PyTorch and MindSpore implementations and weight converters."""
