//! Whole-endpoint tests over the simulated LDC: an engine end and a shim
//! end moving frames both ways (every size, a full ring, resets, a shim
//! that is replaced, hostile descriptors) and the control protocol.

use super::*;
use ldmig::ldc_transport::control::Command;
use ldmig::ldc_transport::layout::Region;
use ldmig::ldc_transport::*;
use ldmig::precopy::Outcome;
use ldmig::stats::{MigrationStats, MigrationStatus};
use ldmig::wire::codec::DecodeError;
use ldmig::wire::control::{
    DomainEntry, DomainListState, ErrorCode, Message, MigrateOptions, ResultKind,
};
use ldmig::wire::descriptor::{Descriptor, DescriptorState};
use ldmig_hv::abi::ldc::LDC_COPY_OUT;
use ldmig_hv::hypervisor::{Ldc, LocalMemory};
use ldmig_sim::ldc::{EndpointConfig, LdcFabric, LdcFault, Side, SimLdcEndpoint, SIM_MEMORY_BASE};
use ldmig_sim::rng::{test_seed, SplitMix64};

const ENGINE_CHANNEL: u64 = 6;
const SHIM_CHANNEL: u64 = 7;
const SLOT: u32 = 16 << 10;
const ENTRIES: u32 = 4;

type Engine = EngineEndpoint<SimLdcEndpoint>;
type Shim = ShimEndpoint<SimLdcEndpoint>;

fn shim_config(session: u32) -> ShimConfig {
    let mut config = ShimConfig::new(SHIM_CHANNEL, SIM_MEMORY_BASE, 1 << 20, SLOT);
    config.session = session;
    config
}

fn open_pair() -> (LdcFabric, Engine, Shim) {
    open_pair_with(shim_config(1))
}

/// Both ends, the shim's set up by `shim`, neither polled yet.
fn open_pair_with(shim: ShimConfig) -> (LdcFabric, Engine, Shim) {
    let fabric = LdcFabric::new();
    let mut engine_memory = EndpointConfig::new(ENGINE_CHANNEL);
    engine_memory.memory_bytes = 1 << 20;
    let (engine_end, shim_end) = fabric
        .create_pair(engine_memory, EndpointConfig::new(SHIM_CHANNEL))
        .expect("pair");
    let ring = RingGeometry::new(ENTRIES, SLOT).expect("ring");
    let config = EngineConfig::new(ENGINE_CHANNEL, SIM_MEMORY_BASE, 1 << 20, ring);
    let engine = EngineEndpoint::open(engine_end, config).expect("engine opens");
    let shim = ShimEndpoint::open(shim_end, shim).expect("shim opens");
    (fabric, engine, shim)
}

/// Polls both ends until the shim took a registration the engine knows
/// was confirmed.
fn settle(engine: &mut Engine, shim: &mut Shim) {
    for _ in 0..64 {
        engine.poll().expect("engine poll");
        shim.poll().expect("shim poll");
        if shim.is_ready() && engine.is_registered() {
            return;
        }
    }
    panic!("no session: engine {engine:?}, shim {shim:?}");
}

/// A frame whose bytes say which frame it is.
fn frame(direction: u8, index: u64, length: usize) -> Vec<u8> {
    let mut rng = SplitMix64::new(index * 2 + u64::from(direction));
    let mut bytes = vec![0u8; length];
    rng.fill(&mut bytes);
    bytes
}

#[test]
fn frames_of_every_size_cross_both_ways_intact() {
    let (_fabric, mut engine, mut shim) = open_pair();
    settle(&mut engine, &mut shim);
    let sizes = [
        1usize,
        7,
        8,
        9,
        24,
        4095,
        8192,
        8193,
        SLOT as usize - 1,
        SLOT as usize,
    ];
    let mut buffer = vec![0u8; SLOT as usize];
    for (index, &size) in sizes.iter().enumerate() {
        let out = frame(0, index as u64, size);
        assert_eq!(engine.send_frame(&out), Ok(true), "size {size}");
        assert_eq!(shim.take_frame(&mut buffer), Ok(Some(size)));
        assert_eq!(buffer[..size], out[..], "engine to shim, size {size}");
        let back = frame(1, index as u64, size);
        assert_eq!(shim.put_frame(&back), Ok(true));
        assert_eq!(engine.receive_frame(&mut buffer), Ok(Some(size)));
        assert_eq!(buffer[..size], back[..], "shim to engine, size {size}");
    }
    assert_eq!(shim.take_frame(&mut buffer), Ok(None));
    assert_eq!(engine.receive_frame(&mut buffer), Ok(None));
    // Larger than a slot: refused, nothing sent.
    let too_big = vec![0u8; SLOT as usize + 1];
    assert_eq!(
        engine.send_frame(&too_big),
        Err(BulkError::FrameTooLarge {
            size: SLOT as usize + 1,
            capacity: SLOT as usize
        })
    );
    assert_eq!(
        shim.put_frame(&too_big)
            .map_err(|error| error.to_transport()),
        Err(ldmig::transport::TransportError::FrameTooLarge {
            size: SLOT as usize + 1,
            capacity: SLOT as usize
        })
    );
    let statistics = shim.core().statistics();
    assert_eq!(statistics.frames_received, sizes.len() as u64);
    assert_eq!(statistics.frames_sent, sizes.len() as u64);
    assert!(statistics.copy_calls > 3 * sizes.len() as u64);
}

#[test]
fn a_full_ring_says_not_now_and_drains() {
    let (_fabric, mut engine, mut shim) = open_pair();
    settle(&mut engine, &mut shim);
    for index in 0..u64::from(ENTRIES) {
        assert_eq!(engine.send_frame(&frame(0, index, 100)), Ok(true));
    }
    assert_eq!(engine.send_frame(&frame(0, 9, 100)), Ok(false));
    assert_eq!(engine.core().statistics().ring_full, 1);
    assert_eq!(engine.frames_in_flight(), u64::from(ENTRIES));
    // A buffer too small: the frame stays for a later call.
    let mut small = [0u8; 50];
    assert_eq!(
        shim.take_frame(&mut small),
        Err(BulkError::FrameTooLarge {
            size: 100,
            capacity: 50
        })
    );
    let mut buffer = vec![0u8; SLOT as usize];
    assert_eq!(shim.take_frame(&mut buffer), Ok(Some(100)));
    assert_eq!(buffer[..100], frame(0, 0, 100)[..]);
    assert_eq!(
        engine.send_frame(&frame(0, 4, 100)),
        Ok(true),
        "slot reclaimed"
    );
    for index in 1..=4 {
        assert_eq!(shim.take_frame(&mut buffer), Ok(Some(100)));
        assert_eq!(buffer[..100], frame(0, index, 100)[..]);
    }
    // The receive ring fills the same way.
    for index in 0..u64::from(ENTRIES) {
        assert_eq!(shim.put_frame(&frame(1, index, 64)), Ok(true));
    }
    assert_eq!(shim.put_frame(&frame(1, 9, 64)), Ok(false));
    assert_eq!(
        engine.receive_frame(&mut small[..10]).map_err(|e| e.code()),
        Err(BulkError::FrameTooLarge {
            size: 64,
            capacity: 10
        }
        .code())
    );
    assert_eq!(engine.receive_frame(&mut buffer), Ok(Some(64)));
    assert_eq!(shim.put_frame(&frame(1, 4, 64)), Ok(true));
}

/// Checks that a frame taken into `buffer` (`taken`: its length) is the
/// next one `direction` sent (its `got`-th, of `sizes`), and counts it.
fn arrived(
    direction: u8,
    taken: Option<usize>,
    buffer: &[u8],
    sizes: &[usize],
    got: &mut u64,
    seed: u64,
) {
    if let Some(length) = taken {
        assert_eq!(length, sizes[*got as usize], "seed {seed}");
        assert_eq!(
            buffer[..length],
            frame(direction, *got, length)[..],
            "seed {seed}"
        );
        *got += 1;
    }
}

/// Streams `count` seeded frames each way, calling `fault` before each
/// step; checks every frame arrives once, in order, intact.
fn stream(
    engine: &mut Engine,
    shim: &mut Shim,
    seed: u64,
    count: u64,
    mut fault: impl FnMut(u64, &mut Engine, &mut Shim),
) {
    let mut rng = SplitMix64::new(seed);
    let sizes: Vec<usize> = (0..count)
        .map(|_| 1 + (rng.next_u64() % u64::from(SLOT)) as usize)
        .collect();
    let (mut sent_out, mut sent_in, mut got_out, mut got_in) = (0u64, 0u64, 0u64, 0u64);
    let mut buffer = vec![0u8; SLOT as usize];
    for step in 0..20 * count {
        fault(step, engine, shim);
        if sent_out < count {
            let size = sizes[sent_out as usize];
            if engine
                .send_frame(&frame(0, sent_out, size))
                .expect("engine send")
            {
                sent_out += 1;
            }
        }
        if sent_in < count {
            let size = sizes[sent_in as usize];
            if shim.put_frame(&frame(1, sent_in, size)).expect("shim put") {
                sent_in += 1;
            }
        }
        let taken = shim.take_frame(&mut buffer).expect("shim take");
        arrived(0, taken, &buffer, &sizes, &mut got_out, seed);
        let taken = engine.receive_frame(&mut buffer).expect("engine receive");
        arrived(1, taken, &buffer, &sizes, &mut got_in, seed);
        if got_out == count && got_in == count {
            return;
        }
    }
    panic!("seed {seed}: stuck at {got_out}/{got_in} of {count}: {engine:?} {shim:?}");
}

#[test]
fn link_resets_lose_and_duplicate_nothing() {
    let seed = test_seed(0xb1);
    println!("seed {seed}");
    let (_fabric, mut engine, mut shim) = open_pair();
    settle(&mut engine, &mut shim);
    stream(
        &mut engine,
        &mut shim,
        seed,
        40,
        |step, engine, shim| match step {
            // The hypervisor resets the channel.
            6 => engine.core().hypervisor().reset_channel(),
            // A reset in the middle of a control message.
            20 => {
                shim.control().status("").expect("request");
                shim.core()
                    .hypervisor()
                    .inject(LdcFault::ResetAfterPackets(1));
            }
            // The engine restarts its link (a host deadline, or a local
            // protocol error, does that).
            40 => engine.restart_link().expect("restart"),
            _ => {}
        },
    );
    let statistics = engine.core().statistics();
    assert!(statistics.link_resets >= 2, "{statistics:?}");
    assert!(
        engine.generation() >= 3,
        "registered again after each reset"
    );
    assert!(shim.core().statistics().registrations >= 3);
    assert_eq!(shim.core().statistics().frames_received, 40);
    assert_eq!(engine.core().statistics().frames_received, 40);
}

#[test]
fn a_new_shim_resumes_where_the_old_one_stopped() {
    let (fabric, mut engine, mut shim) = open_pair();
    settle(&mut engine, &mut shim);
    for index in 0..3 {
        assert_eq!(engine.send_frame(&frame(0, index, 300)), Ok(true));
    }
    let mut buffer = vec![0u8; SLOT as usize];
    assert_eq!(shim.take_frame(&mut buffer), Ok(Some(300)));
    let pair = shim.core().hypervisor().pair();
    drop(shim);
    engine.poll().expect("the engine sees the shim go");
    let replacement = fabric.attach(pair, Side::B).expect("attach");
    let mut shim = ShimEndpoint::open(replacement, shim_config(2)).expect("opens");
    settle(&mut engine, &mut shim);
    for index in 1..3 {
        assert_eq!(shim.take_frame(&mut buffer), Ok(Some(300)));
        assert_eq!(buffer[..300], frame(0, index, 300)[..]);
    }
    assert_eq!(shim.take_frame(&mut buffer), Ok(None));
    assert!(engine.core().statistics().link_resets >= 1);
}

#[test]
fn hostile_descriptors_are_refused_by_name() {
    let (_fabric, mut engine, mut shim) = open_pair();
    settle(&mut engine, &mut shim);
    assert_eq!(engine.send_frame(&frame(0, 0, 64)), Ok(true));
    let scratch = SIM_MEMORY_BASE + (1 << 20) - 8192;
    let transmit_ring = engine.layout().region(Region::TransmitRing).cookie(0);
    let receive_ring = engine.layout().region(Region::ReceiveRing).cookie(0);
    let write = |shim: &mut Shim, cookie: u64, word: [u8; 8]| {
        let hypervisor = shim.core_mut().hypervisor_mut();
        let region = hypervisor
            .local_region(scratch, 8)
            .expect("the shim's memory");
        hypervisor.local_write(&region, 0, &word).expect("scratch");
        hypervisor
            .ldc_copy(SHIM_CHANNEL, LDC_COPY_OUT, cookie, &region, 0, 8)
            .expect("copy out");
    };
    // A state byte that names no state in the transmit ring.
    write(&mut shim, transmit_ring, [3, 0, 0, 0, 0, 0, 0, 64]);
    assert_eq!(
        engine.poll(),
        Err(BulkError::BadDescriptor {
            index: 0,
            fault: DescriptorFault::Malformed(DecodeError::InvalidEnum {
                field: "state",
                value: 3
            })
        })
    );
    assert_eq!(engine.poll(), engine.poll(), "the ring stays refused");
    write(
        &mut shim,
        transmit_ring,
        Descriptor::word0(DescriptorState::Ready, 64),
    );
    engine.poll().expect("repaired");
    // READY for a frame that is not the one due.
    write(&mut shim, receive_ring + 8, 5u64.to_be_bytes());
    write(
        &mut shim,
        receive_ring,
        Descriptor::word0(DescriptorState::Ready, 8),
    );
    let mut buffer = vec![0u8; SLOT as usize];
    assert_eq!(
        engine.receive_frame(&mut buffer).err(),
        Some(BulkError::BadDescriptor {
            index: 0,
            fault: DescriptorFault::Sequence {
                expected: 0,
                found: 5
            }
        })
    );
    // READY, in sequence, longer than its slot.
    write(&mut shim, receive_ring + 8, 0u64.to_be_bytes());
    write(
        &mut shim,
        receive_ring,
        Descriptor::word0(DescriptorState::Ready, SLOT + 8),
    );
    assert_eq!(
        engine.receive_frame(&mut buffer).err(),
        Some(BulkError::BadDescriptor {
            index: 0,
            fault: DescriptorFault::Length(SLOT + 8)
        })
    );
    assert!(engine.core().last_error().is_some());
}

#[test]
fn the_control_protocol_runs_over_the_channel() {
    let (_fabric, mut engine, mut shim) = open_pair();
    // A request made before the session exists waits for it.
    let migrate = shim
        .control()
        .migrate("ldg1", "ldg1-new", MigrateOptions::default(), false)
        .expect("request");
    settle(&mut engine, &mut shim);
    let poll = |engine: &mut Engine, shim: &mut Shim| {
        for _ in 0..4 {
            engine.poll().expect("engine");
            shim.poll().expect("shim");
        }
    };
    poll(&mut engine, &mut shim);
    match engine.control().next_command() {
        Some(Command::Migrate {
            request,
            dry_run: false,
            domain,
            target_domain,
            ..
        }) => {
            assert_eq!(request, migrate);
            assert_eq!(
                (domain.as_str(), target_domain.as_str()),
                ("ldg1", "ldg1-new")
            );
        }
        other => panic!("unexpected command {other:?}"),
    }
    let mut stats = MigrationStats::new();
    stats.status = MigrationStatus::Active;
    stats.progress_percent = 40;
    engine.control().report(&stats).expect("report");
    let status = shim.control().status("ldg1").expect("status");
    let second = shim
        .control()
        .migrate("ldg2", "", MigrateOptions::default(), true)
        .expect("request");
    poll(&mut engine, &mut shim);
    let cancel = shim.control().cancel("").expect("cancel");
    poll(&mut engine, &mut shim);
    assert_eq!(
        engine.control().next_command(),
        Some(Command::Cancel { request: cancel })
    );
    engine
        .control()
        .answer_cancel(cancel, true)
        .expect("answer");
    stats.status = MigrationStatus::Cancelled;
    engine
        .control()
        .finish_migration(&Outcome::Cancelled, &stats)
        .expect("finish");
    let list = shim.control().list_domains().expect("list");
    poll(&mut engine, &mut shim);
    assert_eq!(
        engine.control().next_command(),
        Some(Command::ListDomains { request: list })
    );
    let ldg1 = DomainEntry::new(list, 0, "ldg1", DomainListState::Active, 4, 1 << 30);
    engine.control().list_domain(ldg1).expect("entry");
    engine.control().list_end(list, 1).expect("end");
    poll(&mut engine, &mut shim);

    let mut events = Vec::new();
    while let Some(event) = shim.control().next_event() {
        events.push(event);
    }
    let summary: Vec<(MessageKindName, u32)> = events
        .iter()
        .map(|event| (kind_name(event), event.request().unwrap_or(0)))
        .collect();
    assert_eq!(
        summary,
        [
            ("accepted", migrate),
            ("phase", migrate),
            ("progress", migrate),
            ("progress", status),
            ("error Busy", second),
            ("accepted", cancel),
            ("result Cancelled", migrate),
            ("domain", list),
            ("list end", list),
        ]
    );
}

type MessageKindName = &'static str;

fn kind_name(event: &Message) -> MessageKindName {
    match event {
        Message::Accepted(_) => "accepted",
        Message::Phase(_) => "phase",
        Message::Progress(_) => "progress",
        Message::Error(report) if report.code == ErrorCode::Busy => "error Busy",
        Message::Error(_) => "error",
        Message::Result(result) if result.kind == ResultKind::Cancelled => "result Cancelled",
        Message::Result(_) => "result",
        Message::DomainEntry(_) => "domain",
        Message::ListEnd(_) => "list end",
        _ => "other",
    }
}

#[test]
fn no_common_version_ends_the_session_cleanly() {
    let mut config = shim_config(1);
    config.oldest_version = 2;
    config.newest_version = 3;
    let (_fabric, mut engine, mut shim) = open_pair_with(config);
    let mut refused = None;
    for _ in 0..64 {
        engine.poll().expect("engine");
        if let Err(error) = shim.poll() {
            refused = Some(error);
            break;
        }
    }
    assert_eq!(
        refused,
        Some(BulkError::NoCommonVersion {
            oldest: 2,
            newest: 3
        })
    );
    assert_eq!(engine.session(), EngineSession::AwaitHello);
    assert_eq!(engine.generation(), 0, "no rings registered");
}

#[test]
fn a_shared_endpoint_is_the_engines_transport_and_the_hosts_control() {
    use core::cell::RefCell;
    use ldmig::transport::Transport;
    let (_fabric, engine, mut shim) = open_pair();
    let shared = RefCell::new(engine);
    for _ in 0..64 {
        shared.borrow_mut().poll().expect("engine");
        shim.poll().expect("shim");
    }
    assert!(shim.is_ready());
    // The migration engine holds `&RefCell<..>` as its transport...
    let mut transport = &shared;
    assert_eq!(transport.send(&frame(0, 0, 512)), Ok(true));
    // ...while the host drives the control of the same endpoint.
    shim.control().list_free_memory().expect("request");
    let mut buffer = vec![0u8; SLOT as usize];
    assert_eq!(shim.take_frame(&mut buffer), Ok(Some(512)));
    assert_eq!(shim.put_frame(&frame(1, 0, 256)), Ok(true));
    assert_eq!(transport.receive(&mut buffer), Ok(Some(256)));
    assert_eq!(buffer[..256], frame(1, 0, 256)[..]);
    let command = shared.borrow_mut().control().next_command();
    assert!(matches!(command, Some(Command::ListFreeMemory { .. })));
    // Borrowed elsewhere at the same time: refused, not a panic.
    let held = shared.borrow();
    assert_eq!(
        transport.send(&frame(0, 1, 8)),
        Err(BulkError::Busy.to_transport())
    );
    drop(held);
}
