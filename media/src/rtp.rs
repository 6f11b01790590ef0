//! A zero-copy view of RTP headers (RFC 3550 §5.1) for the forwarding hot path.
//!
//! The relay reads only what it needs (payload type, sequence number, timestamp, SSRC and
//! where the payload starts) without allocating, so it does not use a general RTP crate
//! per packet.

/// The fixed RTP header fields and the payload bounds of one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// Marker bit.
    pub marker: bool,
    /// Payload type (7 bits).
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// Media timestamp.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Offset of the payload in the packet (after CSRCs and any header extension).
    pub payload_offset: usize,
    /// Length of the payload, without RFC 3550 §5.1 padding.
    pub payload_len: usize,
}

/// What kind of packet arrived on an RTP port, by RFC 5761 §4 demultiplexing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// An RTP packet.
    Rtp(RtpHeader),
    /// An RTCP packet (payload type octet 192..=223), as with `a=rtcp-mux`.
    Rtcp,
    /// Not version 2, truncated, or inconsistent lengths.
    Invalid,
}

impl RtpHeader {
    /// Parses the header; `None` for anything that is not a well-formed RTP packet.
    pub fn parse(p: &[u8]) -> Option<Self> {
        if p.len() < 12 || p[0] >> 6 != 2 {
            return None;
        }
        let padding = p[0] & 0x20 != 0;
        let extension = p[0] & 0x10 != 0;
        let csrc = usize::from(p[0] & 0x0f);
        let mut offset = 12 + 4 * csrc;
        if extension {
            // RFC 3550 §5.3.1: 16-bit profile, 16-bit length in 32-bit words.
            let len_at = offset + 2;
            let words = u16::from_be_bytes([*p.get(len_at)?, *p.get(len_at + 1)?]);
            offset += 4 + 4 * usize::from(words);
        }
        if offset > p.len() {
            return None;
        }
        let mut end = p.len();
        if padding {
            let pad = usize::from(*p.last()?);
            if pad == 0 || offset + pad > end {
                return None;
            }
            end -= pad;
        }
        Some(Self {
            marker: p[1] & 0x80 != 0,
            payload_type: p[1] & 0x7f,
            sequence: u16::from_be_bytes([p[2], p[3]]),
            timestamp: u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
            ssrc: u32::from_be_bytes([p[8], p[9], p[10], p[11]]),
            payload_offset: offset,
            payload_len: end - offset,
        })
    }

    /// The payload of `packet`, which must be the packet this header was parsed from.
    pub fn payload<'a>(&self, packet: &'a [u8]) -> &'a [u8] {
        packet
            .get(self.payload_offset..self.payload_offset + self.payload_len)
            .unwrap_or(&[])
    }
}

/// Classifies a packet received on an RTP port (RFC 5761 §4: RTCP packet types 192..=223
/// occupy the octet where RTP has marker and payload type).
pub fn classify(p: &[u8]) -> PacketKind {
    if p.len() >= 2 && p[0] >> 6 == 2 && (192..=223).contains(&p[1]) {
        return if p.len() >= 8 {
            PacketKind::Rtcp
        } else {
            PacketKind::Invalid
        };
    }
    match RtpHeader::parse(p) {
        Some(h) => PacketKind::Rtp(h),
        None => PacketKind::Invalid,
    }
}

/// Writes a minimal RTP header (version 2, no CSRC, no extension) into `out[..12]`.
/// Used by the load generator and tests; returns `None` when `out` is too short.
pub fn write_header(
    out: &mut [u8],
    payload_type: u8,
    marker: bool,
    sequence: u16,
    timestamp: u32,
    ssrc: u32,
) -> Option<()> {
    let h = out.get_mut(..12)?;
    h[0] = 0x80;
    h[1] = (payload_type & 0x7f) | if marker { 0x80 } else { 0 };
    h[2..4].copy_from_slice(&sequence.to_be_bytes());
    h[4..8].copy_from_slice(&timestamp.to_be_bytes());
    h[8..12].copy_from_slice(&ssrc.to_be_bytes());
    Some(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fixed_header_fields() {
        let mut wire = vec![0u8; 12 + 8 + 160];
        write_header(&mut wire, 8, true, 65535, 0xdead_beef, 42).unwrap();
        wire[0] |= 2; // two CSRCs
        wire[20..].fill(7);
        let h = RtpHeader::parse(&wire).unwrap();
        assert!(h.marker);
        assert_eq!(
            (h.payload_type, h.sequence, h.timestamp, h.ssrc),
            (8, 65535, 0xdead_beef, 42)
        );
        assert_eq!(h.payload(&wire), &[7u8; 160][..]);
    }

    #[test]
    fn extension_padding_and_garbage() {
        let mut p = vec![0u8; 12];
        write_header(&mut p, 0, false, 1, 2, 3).unwrap();
        p[0] |= 0x10 | 0x20; // extension + padding
        p.extend_from_slice(&[0xbe, 0xde, 0, 1, 9, 9, 9, 9]); // one-word extension
        p.extend_from_slice(&[5, 5, 5]);
        p.extend_from_slice(&[0, 0, 3]); // 3 bytes of padding
        let h = RtpHeader::parse(&p).unwrap();
        assert_eq!(h.payload(&p), &[5, 5, 5]);
        assert!(RtpHeader::parse(&p[..10]).is_none());
        let mut bad = p.clone();
        *bad.last_mut().unwrap() = 200;
        assert!(
            RtpHeader::parse(&bad).is_none(),
            "padding longer than the packet"
        );
        assert_eq!(classify(&[0x00; 20]), PacketKind::Invalid, "version 0");
        assert_eq!(classify(&[0x80, 200, 0, 6, 0, 0, 0, 1]), PacketKind::Rtcp);
        assert_eq!(classify(&[0x80, 201]), PacketKind::Invalid);
        for len in 0..p.len() {
            let _ = classify(&p[..len]);
        }
    }
}
