//! Hub drivers: the hardware behind the slots (flows F-02, F-05, F-06).
//!
//! This crate will hold one trait for USB hubs of phones and modems and its drivers:
//! a simulated hub (the embedded default and the test double), local `adb`/`uhubctl`
//! child processes, SSH, and a QUIC agent for hubs on other machines.
//!
//! It is filled by the hub driver issues; until then it holds nothing.
