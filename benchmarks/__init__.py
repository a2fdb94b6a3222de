"""Times the DVC pipeline against bare Keras scripts on the same data: `python -m benchmarks.run`."""
