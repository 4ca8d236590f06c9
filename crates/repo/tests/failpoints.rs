//! Failpoint tests (see FORMAT.md).
