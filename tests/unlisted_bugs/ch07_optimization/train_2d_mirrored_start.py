"""train_2d starts at (5, 2) instead of (-5, -2)."""
# module: ch07_optimization.gradient_descent
# catches: (unlisted)

def train_2d(trainer, steps=20, **hyperparams):
    x1, x2, s1, s2 = 5, 2, 0, 0
    results = [(x1, x2)]
    for _ in range(steps):
        x1, x2, s1, s2 = trainer(x1, x2, s1, s2, **hyperparams)
        results.append((x1, x2))
    return results
