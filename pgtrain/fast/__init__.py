"""Fast paths: acting in numpy and numba, layers for mostly-zero frames, Pong's compiled env-step loop."""
