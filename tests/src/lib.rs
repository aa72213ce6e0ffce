//! End-to-end tests that run the project's binaries as separate processes.
//! The tests live in `tests/tests/`; this library only holds shared helpers.
