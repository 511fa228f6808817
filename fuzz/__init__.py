"""Mutation fuzzing of dicomdoctor's parsers (`python fuzz/run.py --help`); the suite runs a bounded, seeded
slice of the same targets (tests/fuzzing/)."""
