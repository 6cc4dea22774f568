"""Chapter 2: preliminaries (D2L 2.2 tensors and memory, 2.3 automatic differentiation)."""
