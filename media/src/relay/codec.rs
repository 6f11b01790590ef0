//! Payload types and what the relay knows about them.

use sip_core::sdp::MediaDescription;

/// The codecs the relay looks into (for recording, DTMF and quality); everything else is
/// forwarded untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Codec {
    /// Not described, or a codec the relay does not decode.
    #[default]
    Other,
    /// G.711 µ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
    /// Opus (RFC 7587).
    Opus,
    /// RFC 4733 telephone-event.
    TelephoneEvent,
    /// RFC 3389 comfort noise.
    ComfortNoise,
}

/// Payload type → codec and clock rate, for one leg of one stream.
#[derive(Debug, Clone)]
pub struct CodecMap {
    entries: [(Codec, u32); 128],
}

impl Default for CodecMap {
    fn default() -> Self {
        let mut entries = [(Codec::Other, 8000u32); 128];
        // RFC 3551 §6 static assignments the relay cares about.
        entries[0] = (Codec::Pcmu, 8000);
        entries[8] = (Codec::Pcma, 8000);
        entries[13] = (Codec::ComfortNoise, 8000);
        Self { entries }
    }
}

impl CodecMap {
    /// Builds the map from an `m=` section's `a=rtpmap` lines on top of the static table.
    pub fn from_media(m: &MediaDescription) -> Self {
        let mut map = Self::default();
        for r in m.rtpmaps() {
            let codec = match r.encoding.to_ascii_lowercase().as_str() {
                "pcmu" => Codec::Pcmu,
                "pcma" => Codec::Pcma,
                "opus" => Codec::Opus,
                "telephone-event" => Codec::TelephoneEvent,
                "cn" => Codec::ComfortNoise,
                _ => Codec::Other,
            };
            let rate = r.clock_rate.unwrap_or(8000);
            if let Some(e) = map.entries.get_mut(usize::from(r.payload_type)) {
                *e = (codec, rate);
            }
        }
        map
    }

    /// The codec and clock rate of a payload type.
    pub fn get(&self, payload_type: u8) -> (Codec, u32) {
        self.entries
            .get(usize::from(payload_type))
            .copied()
            .unwrap_or((Codec::Other, 8000))
    }

    /// The payload types mapped to `codec`, in ascending order.
    pub fn payload_types(&self, codec: Codec) -> impl Iterator<Item = u8> + '_ {
        (0u8..128).filter(move |pt| self.get(*pt).0 == codec)
    }

    /// The first audio codec the relay can decode, in the SDP's preference order.
    pub fn first_decodable<'a>(
        &self,
        formats: impl Iterator<Item = &'a str>,
    ) -> Option<(u8, Codec)> {
        formats
            .filter_map(|f| f.parse::<u8>().ok())
            .map(|pt| (pt, self.get(pt).0))
            .find(|(_, c)| matches!(c, Codec::Pcmu | Codec::Pcma | Codec::Opus))
    }
}
