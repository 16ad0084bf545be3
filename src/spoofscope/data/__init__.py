"""Corpora, manifests, datasets and augmentation."""
