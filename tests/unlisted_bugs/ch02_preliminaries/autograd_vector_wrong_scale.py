"""vector_backward forgets the factor 2 of y = 2x (backpropagates through x.view only)."""
# module: ch02_preliminaries.autograd
# catches: any

def vector_backward(x, v):
    leaf = x.detach().clone().requires_grad_(True)
    leaf.view(2, 2).backward(v)
    return leaf.grad
