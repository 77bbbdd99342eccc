//! Helpers for the loom models: see tests/.
