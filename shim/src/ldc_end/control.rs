//! The shim side of the control protocol: requests to the engine (each
//! with a fresh request id) and the events and errors that come back, in
//! order. The endpoint ([`super::endpoint::ShimEndpoint`]) sends
//! the queued requests and delivers what arrives.

use heapless::Deque;

use ldmig::ldc_transport::control::{drop_oldest_progress, ControlError};
use ldmig::wire::codec::Text;
use ldmig::wire::control::{DomainRequest, Message, MigrateOptions, MigrateRequest};
use zerocopy::byteorder::big_endian::U32;

/// Requests waiting to be sent, at most.
pub const MAX_REQUESTS: usize = 8;
/// Events waiting for the shim's application, at most.
pub const MAX_PENDING_EVENTS: usize = 64;

/// The shim side's requests and events.
#[derive(Debug)]
pub struct ShimControl {
    next_request: u32,
    requests: Deque<Message, MAX_REQUESTS>,
    events: Deque<Message, MAX_PENDING_EVENTS>,
    progress_dropped: u64,
}

impl Default for ShimControl {
    fn default() -> Self {
        ShimControl::new()
    }
}

impl ShimControl {
    /// No request made yet.
    pub const fn new() -> Self {
        ShimControl {
            next_request: 1,
            requests: Deque::new(),
            events: Deque::new(),
            progress_dropped: 0,
        }
    }

    fn submit(&mut self, make: impl FnOnce(u32) -> Message) -> Result<u32, ControlError> {
        if self.requests.is_full() {
            return Err(ControlError::Backlog);
        }
        let request = self.next_request;
        self.next_request = self.next_request.wrapping_add(1).max(1);
        let _ = self.requests.push_back(make(request));
        Ok(request)
    }

    fn domain_request(request: u32, domain: &str) -> DomainRequest {
        DomainRequest::new(request, domain)
    }

    /// Asks the engine to migrate (or, with `dry_run`, only check)
    /// `domain`, named `target_domain` on the target; returns the request id.
    pub fn migrate(
        &mut self,
        domain: &str,
        target_domain: &str,
        options: MigrateOptions,
        dry_run: bool,
    ) -> Result<u32, ControlError> {
        self.submit(|request| {
            let body = MigrateRequest {
                request: U32::new(request),
                options,
                domain: Text::new(domain),
                target_domain: Text::new(target_domain),
            };
            if dry_run {
                Message::DryRun(body)
            } else {
                Message::Migrate(body)
            }
        })
    }

    /// Asks where the migration of `domain` (empty: the running one) stands.
    pub fn status(&mut self, domain: &str) -> Result<u32, ControlError> {
        self.submit(|request| Message::Status(Self::domain_request(request, domain)))
    }

    /// Asks to cancel the migration of `domain` (empty: the running one).
    pub fn cancel(&mut self, domain: &str) -> Result<u32, ControlError> {
        self.submit(|request| Message::Cancel(Self::domain_request(request, domain)))
    }

    /// Asks for the domains of the engine's machine.
    pub fn list_domains(&mut self) -> Result<u32, ControlError> {
        self.submit(|request| Message::ListDomains(Self::domain_request(request, "")))
    }

    /// Asks for the free memory ranges of the engine's machine.
    pub fn list_free_memory(&mut self) -> Result<u32, ControlError> {
        self.submit(|request| Message::ListFreeMemory(Self::domain_request(request, "")))
    }

    /// The next event or error from the engine.
    pub fn next_event(&mut self) -> Option<Message> {
        self.events.pop_front()
    }

    /// Progress events dropped because the application did not take events
    /// fast enough (nothing else is ever dropped).
    pub fn progress_dropped(&self) -> u64 {
        self.progress_dropped
    }

    /// Whether another event can be taken without dropping one.
    pub(crate) fn can_take_event(&self) -> bool {
        !self.events.is_full()
    }

    /// Keeps an event for the application; `false` when it could not. A
    /// full queue makes room by dropping its oldest Progress; with none,
    /// the caller must wait ([`ShimControl::can_take_event`]).
    pub(crate) fn on_event(&mut self, event: Message) -> bool {
        match self.events.push_back(event) {
            Ok(()) => true,
            Err(event) => {
                if drop_oldest_progress(&mut self.events) {
                    self.progress_dropped += 1;
                }
                self.events.push_back(event).is_ok()
            }
        }
    }

    /// The next request to send, left queued.
    pub(crate) fn peek_request(&self) -> Option<&Message> {
        self.requests.front()
    }

    /// Drops the request [`ShimControl::peek_request`] showed (it was sent).
    pub(crate) fn pop_request(&mut self) {
        let _ = self.requests.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldmig::wire::codec::Reserved;
    use ldmig::wire::control::{Accepted, Phase, ProgressEvent};
    use zerocopy::byteorder::big_endian::U64;

    #[test]
    fn requests_get_fresh_ids_and_queue_in_order() {
        let mut control = ShimControl::new();
        let first = control
            .migrate("ldg1", "", MigrateOptions::default(), false)
            .expect("migrate");
        let second = control.status("").expect("status");
        assert_eq!((first, second), (1, 2));
        assert!(
            matches!(control.peek_request(), Some(Message::Migrate(request)) if request.request.get() == 1)
        );
        control.pop_request();
        assert!(matches!(control.peek_request(), Some(Message::Status(_))));
        for _ in 1..MAX_REQUESTS {
            control.list_domains().expect("room");
        }
        assert_eq!(control.list_free_memory(), Err(ControlError::Backlog));
    }

    #[test]
    fn a_full_event_queue_drops_progress_only() {
        let mut control = ShimControl::new();
        let progress = Message::Progress(ProgressEvent {
            request: U32::new(1),
            phase: Phase::PreCopy.into(),
            percent: 1,
            throttle_percent: 0,
            reserved: Reserved::ZERO,
            rounds: U32::new(0),
            reserved2: Reserved::ZERO,
            transferred: U64::new(0),
            remaining: U64::new(0),
            total: U64::new(0),
            bandwidth: U64::new(0),
            expected_downtime_ns: U64::new(0),
        });
        let accepted = |request| Message::Accepted(Accepted::new(request));
        assert!(control.on_event(progress));
        for request in 0..MAX_PENDING_EVENTS as u32 - 1 {
            assert!(control.on_event(accepted(request)));
        }
        assert!(!control.can_take_event());
        assert!(control.on_event(accepted(99)), "progress dropped");
        assert_eq!(control.progress_dropped(), 1);
        assert!(!control.on_event(accepted(100)));
        assert_eq!(control.next_event(), Some(accepted(0)));
    }
}
