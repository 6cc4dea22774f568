"""Chapter 5: convolutional neural networks (D2L 5.1-5.12).

Graded: the from-scratch operations (``corr2d`` and the multi-channel versions, output-shape
arithmetic, ``pool2d``, ``batch_norm``/``BatchNorm``), the layers and blocks the networks are
made of (``Conv2D``, ``GlobalAvgPool2d``, ``vgg_block``, ``nin_block``, ``Inception``,
``Residual``, ``resnet_block``, ``conv_block``, ``DenseBlock``, ``transition_block``), LeNet and
AlexNet, and the training helpers ``evaluate_accuracy``/``train_ch5``. The whole-network
builders of 5.7-5.12 (``vgg``, ``nin``, ``googlenet``, ``bn_lenet``, ``resnet18``,
``densenet``) are given code: they only assemble graded blocks in the book's order.
"""
