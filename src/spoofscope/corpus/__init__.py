"""The offline benchmark-corpus builder: generators, sources, splits, conditioning, audits."""
