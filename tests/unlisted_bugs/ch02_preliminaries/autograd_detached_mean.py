"""scaled_square_mean detaches its input, so no gradient reaches x."""
# module: ch02_preliminaries.autograd
# catches: any

def scaled_square_mean(x):
    return (3 * (x.detach() + 2) ** 2).mean()
