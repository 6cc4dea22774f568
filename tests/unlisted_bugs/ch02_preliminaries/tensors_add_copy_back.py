"""add_in_place computes into a fresh tensor, then rebinds y[...] on a clone."""
# module: ch02_preliminaries.tensors
# catches: any

def add_in_place(y, x):
    z = y.clone()
    z[:] = z + x
    return z
