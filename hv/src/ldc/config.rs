//! What a link endpoint is built from: the channel, where its queues and map
//! table live (real addresses in the caller's memory), its role in the
//! handshake, the versions it speaks and its retry policy.

use super::error::{ConfigError, QueueKind};
use super::handshake::{validate_versions, LinkRole, Version, LINK_VERSIONS};
use super::queue::QueueGeometry;
use super::retry::RetryPolicy;

/// One queue: base real address and entry count (64 bytes each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    /// Base RA, aligned to `entries × 64` (the hypervisor's rule).
    pub ra: u64,
    /// Entries: a power of 2, at least 2.
    pub entries: u64,
}

impl QueueConfig {
    /// Checks the entry count and alignment; returns the queue's geometry.
    pub fn validate(self, queue: QueueKind) -> Result<QueueGeometry, ConfigError> {
        let geometry = QueueGeometry::new(self.entries).ok_or(ConfigError::QueueEntries {
            queue,
            entries: self.entries,
        })?;
        if self.ra == 0 || !self.ra.is_multiple_of(geometry.size_bytes()) {
            return Err(ConfigError::QueueAlignment { queue, ra: self.ra });
        }
        Ok(geometry)
    }
}

/// The map table of exported pages (16 bytes per entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapTableConfig {
    /// Table RA, 64-byte aligned.
    pub ra: u64,
    /// Entries: a power of 2 in `2..2^30`.
    pub entries: u64,
}

impl MapTableConfig {
    /// Checks the entry count and alignment.
    pub fn validate(self) -> Result<(), ConfigError> {
        let entries_ok =
            self.entries >= 2 && self.entries < (1 << 30) && self.entries.is_power_of_two();
        if !entries_ok {
            return Err(ConfigError::MapTableEntries {
                entries: self.entries,
            });
        }
        if self.ra == 0 || !self.ra.is_multiple_of(64) {
            return Err(ConfigError::MapTableAlignment { ra: self.ra });
        }
        Ok(())
    }
}

/// Everything an [`super::LdcLink`] is opened with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkConfig {
    /// The channel number (the MD `channel-endpoint` id).
    pub channel: u64,
    /// Transmit queue.
    pub tx_queue: QueueConfig,
    /// Receive queue.
    pub rx_queue: QueueConfig,
    /// Map table to register with `LDC_SET_MAP_TABLE`, if the caller
    /// exports memory on this channel.
    pub map_table: Option<MapTableConfig>,
    /// Tie-break when both sides start the handshake at once.
    pub role: LinkRole,
    /// Versions spoken, highest first (default [`LINK_VERSIONS`]).
    pub versions: &'static [Version],
    /// What to do about `EWOULDBLOCK`.
    pub retry: RetryPolicy,
}

impl LinkConfig {
    /// A configuration with no map table, version 1.0 and the default retry
    /// policy.
    pub fn new(channel: u64, tx_queue: QueueConfig, rx_queue: QueueConfig, role: LinkRole) -> Self {
        LinkConfig {
            channel,
            tx_queue,
            rx_queue,
            map_table: None,
            role,
            versions: LINK_VERSIONS,
            retry: RetryPolicy::DEFAULT,
        }
    }

    /// Checks everything; returns the (transmit, receive) geometries.
    pub fn validate(&self) -> Result<(QueueGeometry, QueueGeometry), ConfigError> {
        let tx = self.tx_queue.validate(QueueKind::Transmit)?;
        let rx = self.rx_queue.validate(QueueKind::Receive)?;
        if let Some(table) = self.map_table {
            table.validate()?;
        }
        validate_versions(self.versions)?;
        if self.retry.max_attempts == 0 {
            return Err(ConfigError::RetryAttempts);
        }
        Ok((tx, rx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LinkConfig {
        LinkConfig::new(
            5,
            QueueConfig {
                ra: 0x8000_0000,
                entries: 128,
            },
            QueueConfig {
                ra: 0x8000_2000,
                entries: 128,
            },
            LinkRole::Initiator,
        )
    }

    #[test]
    fn valid_config_passes() {
        let (tx, rx) = config().validate().expect("valid");
        assert_eq!((tx.entries(), rx.entries()), (128, 128));
    }

    #[test]
    fn each_bad_field_is_named() {
        let invalid = |spoil: fn(&mut LinkConfig)| {
            let mut bad = config();
            spoil(&mut bad);
            bad.validate().err()
        };
        assert_eq!(
            invalid(|bad| bad.tx_queue.entries = 96),
            Some(ConfigError::QueueEntries {
                queue: QueueKind::Transmit,
                entries: 96
            })
        );
        // 4 KiB aligned, the queue is 8 KiB.
        assert_eq!(
            invalid(|bad| bad.rx_queue.ra = 0x8000_1000),
            Some(ConfigError::QueueAlignment {
                queue: QueueKind::Receive,
                ra: 0x8000_1000
            })
        );
        fn table(ra: u64, entries: u64) -> Option<MapTableConfig> {
            Some(MapTableConfig { ra, entries })
        }
        assert_eq!(
            invalid(|bad| bad.map_table = table(0x8001_0000, 3)),
            Some(ConfigError::MapTableEntries { entries: 3 })
        );
        assert_eq!(
            invalid(|bad| bad.map_table = table(0x8001_0020, 8)),
            Some(ConfigError::MapTableAlignment { ra: 0x8001_0020 })
        );
        assert_eq!(
            invalid(|bad| bad.versions = &[]),
            Some(ConfigError::Versions)
        );
        assert_eq!(
            invalid(|bad| bad.retry = RetryPolicy::new(0)),
            Some(ConfigError::RetryAttempts)
        );
    }
}
