"""Chapter 8: computational performance (D2L 8.1-8.4), the PyTorch way.

Graded: hybrid programming with TorchScript (a scripted model gives the eager outputs and runs
from its saved file without its Python class), a ``Benchmark`` timer that synchronises the
device, running device and CPU work at once, splitting a batch across devices and summing
gradients (data parallelism), and the ``module.`` prefix of a ``DataParallel`` model's
state_dict. The speedup tests need CUDA
(tier "gpu"); everything else runs on the CPU.
"""
