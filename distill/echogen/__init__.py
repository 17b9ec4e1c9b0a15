"""A generator of synthetic echo frames learned from human-labelled ones (label map → image).

Its folder's file names live here, free of torch, so ``distill generate`` can check a folder
before any worker loads the network.
"""

WEIGHTS, CARD, SHAPES = "generator.pt", "generator.json", "shapes.npz"
