"""Chapter 7: optimization algorithms (D2L 7.1-7.8, and the course notes on learning rate).

Graded: 1-D and 2-D gradient descent and the ``train_2d`` driver, noisy-gradient SGD, the
learning-rate experiment on ``4 x**2``, the airfoil loader ``get_data_ch7``, minibatch
``sgd`` and ``train_ch7``, and from scratch momentum, AdaGrad, RMSProp, AdaDelta and Adam
(``init_*_states`` and the update functions with the book's ``(params, states,
hyperparams)`` signature), their 2-D versions, and the exponentially weighted moving average.
``torch.optim`` is not allowed inside any of the from-scratch optimizers.
"""
