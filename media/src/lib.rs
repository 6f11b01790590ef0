//! Media engine (flows F-10 and F-14): RTP/RTCP relay and call recording.
//!
//! This crate will hold the per-call media sessions (port pairs, SDP rewriting, symmetric
//! RTP latching, media timeout, RTCP statistics, RFC 4733 DTMF), call recording to stereo
//! WAV files, and the rtpengine-compatible "ng" control protocol.
//!
//! It is filled by the media issue; until then it holds nothing.
