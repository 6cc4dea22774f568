"""grad_clipping measures the norm with abs() (an L1 norm) instead of the L2 norm."""
# module: ch06_rnn.rnn_scratch
# catches: any

def grad_clipping(params, theta, device=None):
    norm = sum(param.grad.data.abs().sum().item() for param in params)
    if norm > theta:
        for param in params:
            param.grad.data *= (theta / norm)
