"""rmsprop forgets the learning rate (steps g / sqrt(s + eps))."""
# module: ch07_optimization.rmsprop
# catches: (unlisted)

def rmsprop(params, states, hyperparams):
    gamma, eps = hyperparams['gamma'], 1e-6
    for p, s in zip(params, states):
        s.data = gamma * s.data + (1 - gamma) * p.grad.data ** 2
        p.data -= p.grad.data / torch.sqrt(s + eps)
