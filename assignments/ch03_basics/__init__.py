"""Chapter 3: deep learning basics (D2L 3.1-3.16): linear and softmax regression, MLPs,
model selection, weight decay, dropout, initialization and the Kaggle house-price example."""
