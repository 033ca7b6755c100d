//! Loading weights: memory-mapped safetensors, prefixes, dtypes, untrained re-initialisation.
