"""AI-GOMS (Fourier masked-autoencoder ocean model) for earthzoo: PyTorch and MindSpore implementations."""
