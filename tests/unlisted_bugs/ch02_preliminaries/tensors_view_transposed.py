"""flatten_view flattens the transpose, so the order of the elements changes."""
# module: ch02_preliminaries.tensors
# catches: any

def flatten_view(x):
    return x.t().reshape(-1)
