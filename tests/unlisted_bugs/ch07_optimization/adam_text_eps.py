"""adam uses the text's eps = 1e-8 instead of the code's 1e-6 (the spec says 1e-6)."""
# module: ch07_optimization.adam
# catches: (unlisted)

def adam(params, states, hyperparams):
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    t = hyperparams['t']
    for p, (v, s) in zip(params, states):
        v[:] = beta1 * v + (1 - beta1) * p.grad.data
        s[:] = beta2 * s + (1 - beta2) * p.grad.data ** 2
        p.data -= hyperparams['lr'] * (v / (1 - beta1 ** t)) / (torch.sqrt(s / (1 - beta2 ** t)) + eps)
    hyperparams['t'] += 1
