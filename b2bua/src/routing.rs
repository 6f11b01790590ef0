//! The numbering plan (CONTRACT.md): slot ranges, services, and trunk selection by the
//! longest matching prefix.

use crate::trunk::TrunkConfig;

/// Where a dialled number goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Destination {
    /// A slot extension, 6001–6999 (AUTO), 7001–7999 (MF), 8001–8999 (LS).
    Slot(String),
    /// The echo service.
    Echo,
    /// Another number of the service range 9001–9999, which serves nothing yet.
    UnknownService,
    /// Anything else: a carrier trunk.
    External(String),
}

/// The extension if `s` is a slot number of the plan.
pub(crate) fn slot_extension(s: &str) -> Option<&str> {
    if s.len() != 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u32 = s.parse().ok()?;
    let in_range = |lo: u32| (lo + 1..=lo + 999).contains(&n);
    (in_range(6000) || in_range(7000) || in_range(8000)).then_some(s)
}

/// Classify a dialled number (the user part of the Request-URI).
pub(crate) fn classify(number: &str, echo_number: &str) -> Destination {
    if let Some(ext) = slot_extension(number) {
        return Destination::Slot(ext.to_owned());
    }
    if number == echo_number {
        return Destination::Echo;
    }
    if number.len() == 4
        && number.starts_with('9')
        && number.bytes().all(|b| b.is_ascii_digit())
        && number != "9000"
    {
        return Destination::UnknownService;
    }
    Destination::External(number.to_owned())
}

/// The trunks whose prefixes match `number`, the longest match first; trunks with equal
/// matches keep their configuration order (the first is preferred, the rest are
/// failover).
pub(crate) fn trunk_candidates(trunks: &[TrunkConfig], number: &str) -> Vec<usize> {
    let mut matches: Vec<(usize, usize)> = trunks
        .iter()
        .enumerate()
        .filter_map(|(i, t)| {
            t.prefixes
                .iter()
                .filter(|p| number.starts_with(p.as_str()))
                .map(|p| p.len())
                .max()
                .map(|len| (i, len))
        })
        .collect();
    matches.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    matches.into_iter().map(|(i, _)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn trunk(name: &str, prefixes: &[&str]) -> TrunkConfig {
        let mut t = TrunkConfig::new(
            name,
            "carrier.example",
            vec![SocketAddr::from(([192, 0, 2, 10], 5060))],
        );
        t.prefixes = prefixes.iter().map(|p| (*p).to_owned()).collect();
        t
    }

    #[test]
    fn numbering_plan() {
        assert_eq!(classify("6001", "9001"), Destination::Slot("6001".into()));
        assert_eq!(classify("7999", "9001"), Destination::Slot("7999".into()));
        assert_eq!(classify("8500", "9001"), Destination::Slot("8500".into()));
        assert_eq!(
            classify("6000", "9001"),
            Destination::External("6000".into())
        );
        assert_eq!(classify("9001", "9001"), Destination::Echo);
        assert_eq!(classify("9002", "9001"), Destination::UnknownService);
        assert_eq!(
            classify("5551234", "9001"),
            Destination::External("5551234".into())
        );
        assert_eq!(
            classify("+4930123", "9001"),
            Destination::External("+4930123".into())
        );
        assert_eq!(slot_extension("60012"), None);
        assert_eq!(slot_extension("60a1"), None);
    }

    #[test]
    fn longest_prefix_first_then_configuration_order() {
        let trunks = vec![
            trunk("any", &[""]),
            trunk("de", &["49", "+49"]),
            trunk("berlin", &["4930"]),
            trunk("any2", &[""]),
        ];
        assert_eq!(trunk_candidates(&trunks, "4930123"), vec![2, 1, 0, 3]);
        assert_eq!(trunk_candidates(&trunks, "+4989"), vec![1, 0, 3]);
        assert_eq!(trunk_candidates(&trunks, "1555"), vec![0, 3]);
        let none = vec![trunk("de", &["49"])];
        assert!(trunk_candidates(&none, "1555").is_empty());
    }
}
