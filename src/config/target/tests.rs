//! Unit tests of target validation.

use super::super::raw::{RawSource, RawTable, RawTarget};
use super::super::source::{COMMON_SOURCE_KEYS, source_keys};
use super::{COMMON_TARGET_KEYS, target_keys};
use crate::source::SourceKind;
use crate::target::TargetKind;

/// Every key the parser knows is common or some kind's own: none can
/// be written and then refused by every kind.
#[test]
fn every_known_key_belongs_to_some_kind() {
    for key in RawSource::KEYS {
        let used = COMMON_SOURCE_KEYS.contains(key)
            || SourceKind::ALL
                .iter()
                .any(|k| source_keys(*k).contains(key));
        assert!(used, "source key {key}");
    }
    for key in RawTarget::KEYS {
        let used = COMMON_TARGET_KEYS.contains(key)
            || [
                TargetKind::Sso,
                TargetKind::Sdk,
                TargetKind::Messaging,
                TargetKind::Chat,
            ]
            .iter()
            .any(|k| target_keys(*k).contains(key));
        assert!(used, "target key {key}");
    }
}
