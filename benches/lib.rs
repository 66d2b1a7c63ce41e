//! ldmig benchmarks: see the examples of this package and BENCHMARKS.md.
