"""Chapter 4: deep-learning computation (D2L 4.1 model construction, 4.2 parameters, 4.4 custom layers, 4.5 saving and loading, 4.6 devices)."""
