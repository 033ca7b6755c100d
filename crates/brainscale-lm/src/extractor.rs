//! The plugin SDK's `FeatureExtractor` for any [`crate::Family`].
