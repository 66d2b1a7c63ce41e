//! One engine's LDC channel to its shim's end on a simulated LDC, and that
//! shim's relay to the link between the shims (any [`Transport`]): what
//! the harness and the daemon put between an engine and the network.
//!
//! The engine writes frames into the ring it exports; the shim's end reads
//! them with `LDC_COPY` (see [`ldmig::ldc_transport`]). Both ends are
//! pumped by the thread that drives the engine.

use crate::ldc_end::{FrameRelay, ShimConfig, ShimEndpoint, ShimLayout};
use ldmig::ldc_transport::{EngineConfig, EngineEndpoint, EngineLayout, RingGeometry};
use ldmig::transport::{Transport, TransportError};
use ldmig_hv::hypervisor::LocalMemory;
use ldmig_sim::ldc::{
    EndpointConfig, LdcFabric, SimLdcEndpoint, SIM_DEFAULT_MEMORY, SIM_MAX_MEMORY, SIM_MEMORY_BASE,
};
use std::cell::RefCell;
use std::rc::Rc;

/// Descriptors per ring of the harness's LDC hops (fewer when slots are big).
const LDC_RING_ENTRIES: u32 = 8;
/// Frames each relay moves per direction and step, at most.
const RELAY_BUDGET: usize = 64;

/// An engine's end and a shim's end of one simulated LDC channel, their
/// control session up (Hello and ring registration done): what an LDC hop
/// and the bulk-path benchmark move frames through.
pub struct SimChannel {
    /// The simulated LDC the two ends share.
    pub fabric: LdcFabric,
    /// The engine's end.
    pub engine: EngineEndpoint<SimLdcEndpoint>,
    /// The shim's end.
    pub shim: ShimEndpoint<SimLdcEndpoint>,
}

impl SimChannel {
    /// Both ends of a channel for frames of `frame_bytes`, the ring of the
    /// first of `ring_entries` descriptors that fits the engine's memory,
    /// both of control session `session`; each end's memory is what its
    /// layout needs. Returns once the control session is up.
    pub fn connect(frame_bytes: usize, ring_entries: &[u32], session: u32) -> Result<Self, String> {
        let slot_bytes = RingGeometry::slot_bytes_for(frame_bytes);
        let (ring, engine_layout) = ring_entries
            .iter()
            .find_map(|&entries| {
                let ring = RingGeometry::new(entries, slot_bytes).ok()?;
                let layout = EngineLayout::new(SIM_MEMORY_BASE, SIM_MAX_MEMORY, 128, ring).ok()?;
                Some((ring, layout))
            })
            .ok_or_else(|| format!("no LDC ring fits {frame_bytes}-byte frames"))?;
        let round = |bytes: u64| bytes.div_ceil(8192).max(SIM_DEFAULT_MEMORY / 8192) * 8192;
        let engine_bytes = round(engine_layout.end() - SIM_MEMORY_BASE);
        let shim_layout = ShimLayout::new(SIM_MEMORY_BASE, SIM_MAX_MEMORY, 128, slot_bytes)
            .map_err(|error| error.to_string())?;
        let shim_bytes = round(
            shim_layout.frame_buffer_ra + u64::from(shim_layout.frame_buffer_bytes)
                - SIM_MEMORY_BASE,
        );
        let fabric = LdcFabric::new();
        let (engine_end, shim_end) = fabric
            .create_pair(
                EndpointConfig {
                    channel: 1,
                    memory_bytes: engine_bytes,
                },
                EndpointConfig {
                    channel: 2,
                    memory_bytes: shim_bytes,
                },
            )
            .map_err(|error| error.to_string())?;
        let mut engine_config = EngineConfig::new(1, SIM_MEMORY_BASE, engine_bytes, ring);
        engine_config.session = session;
        let mut engine =
            EngineEndpoint::open(engine_end, engine_config).map_err(|error| error.to_string())?;
        let mut shim_config = ShimConfig::new(2, SIM_MEMORY_BASE, shim_bytes, slot_bytes);
        shim_config.session = session;
        let mut shim =
            ShimEndpoint::open(shim_end, shim_config).map_err(|error| error.to_string())?;
        // Hello and ring registration before any frame moves.
        for _ in 0..64 {
            if shim.is_ready() && engine.is_registered() {
                return Ok(SimChannel {
                    fabric,
                    engine,
                    shim,
                });
            }
            engine.poll().map_err(|error| error.to_string())?;
            shim.poll().map_err(|error| error.to_string())?;
        }
        Err("the LDC control session did not come up".into())
    }
}

/// One engine's LDC channel to its shim's end, and that shim's relay to
/// the link between the shims.
pub struct LdcHop<N: Transport> {
    _fabric: LdcFabric,
    pub(crate) engine: EngineEndpoint<SimLdcEndpoint>,
    pub(crate) shim: ShimEndpoint<SimLdcEndpoint>,
    network: N,
    relay: FrameRelay,
    outbound: Vec<u8>,
    inbound: Vec<u8>,
    /// The pipe failed: the shim closes the channel, the engine sees it.
    pub(crate) failed: Option<TransportError>,
    /// A frame to damage in the engine's exported slot: (frame, offset).
    pub(crate) corrupt: Option<(u64, usize)>,
}

impl<N: Transport> LdcHop<N> {
    /// Opens a channel pair sized for frames of `frame_bytes`.
    pub fn open(frame_bytes: usize, session: u32, network: N) -> Result<Self, String> {
        let channel = SimChannel::connect(frame_bytes, &[LDC_RING_ENTRIES, 4, 2], session)?;
        let slot_bytes = RingGeometry::slot_bytes_for(frame_bytes) as usize;
        Ok(LdcHop {
            _fabric: channel.fabric,
            engine: channel.engine,
            shim: channel.shim,
            network,
            relay: FrameRelay::new(),
            outbound: vec![0; slot_bytes],
            inbound: vec![0; slot_bytes],
            failed: None,
            corrupt: None,
        })
    }

    /// The shim's side of a step: polls the engine's end, damages a frame
    /// if asked, relays frames both ways.
    pub fn pump(&mut self) {
        if self.failed.is_some() {
            return;
        }
        if let Err(error) = self.engine.poll() {
            self.failed = Some(error.to_transport());
            return;
        }
        if let Some((frame, offset)) = self.corrupt {
            if let Some((ra, length)) = self.engine.pending_frame(frame) {
                self.corrupt = None;
                let at = ra + (offset % length.max(1)) as u64;
                let word = at / 8 * 8;
                let mut bytes = [0u8; 8];
                let memory = self.engine.core_mut().hypervisor_mut();
                if let Ok(region) = memory.local_region(word, 8) {
                    if memory.local_read(&region, 0, &mut bytes).is_ok() {
                        bytes[(at - word) as usize] ^= 0x10;
                        let _ = memory.local_write(&region, 0, &bytes);
                    }
                }
            }
        }
        let pumped = self.relay.pump(
            &mut self.shim,
            &mut self.network,
            &mut self.outbound,
            &mut self.inbound,
            RELAY_BUDGET,
        );
        if let Err(error) = pumped {
            self.failed = Some(error);
        }
    }
}

impl<N: Transport> LdcHop<N> {
    /// Pumps until every frame the engine exported left for the network
    /// (or `rounds` pumps went by): the engine is done, its last frames
    /// must not be stranded in its ring.
    pub fn drain(&mut self, rounds: usize) {
        for _ in 0..rounds {
            self.pump();
            if self.failed.is_some() || self.engine.frames_in_flight() == 0 {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}

/// The engine's side of an [`LdcHop`], as the engine's transport: every
/// send and receive also pumps the shim's end.
pub struct HopTransport<N: Transport>(pub Rc<RefCell<LdcHop<N>>>);

impl<N: Transport> Transport for HopTransport<N> {
    fn send(&mut self, frame: &[u8]) -> Result<bool, TransportError> {
        let mut hop = self.0.borrow_mut();
        if let Some(error) = hop.failed {
            return Err(error);
        }
        let sent = hop.engine.send(frame);
        hop.pump();
        sent
    }

    fn receive(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, TransportError> {
        let mut hop = self.0.borrow_mut();
        hop.pump();
        match hop.engine.receive(buffer)? {
            Some(length) => Ok(Some(length)),
            None => hop.failed.map_or(Ok(None), Err),
        }
    }
}
