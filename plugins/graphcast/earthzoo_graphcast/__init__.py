"""GraphCast (icosahedral multi-mesh GNN) for earthzoo: PyTorch and MindSpore implementations and weight converters."""
