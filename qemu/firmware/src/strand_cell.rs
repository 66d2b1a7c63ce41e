//! A global that only the one strand ever touches, borrowed with a run-time
//! check: the hypervisor's state, and the save areas the assembly shares.
//!
//! `-M niagara` has one UltraSPARC T1 strand (`-smp 2` is refused), the
//! firmware enables no interrupts, and the hypervisor's trap handlers never
//! nest into one another: at any moment one execution context at most can
//! reach such a global. The `RefCell` turns a mistake there (a borrow held
//! across a `ta`) into a panic instead of aliasing.

use core::cell::{RefCell, UnsafeCell};

/// A value reached by one strand only, borrowed one at a time.
pub struct StrandCell<T>(RefCell<T>);

// SAFETY: one strand, no interrupts, no nested handlers (module docs): no
// two execution contexts ever reach the value at once; the RefCell checks
// the borrows of the one that does.
unsafe impl<T> Sync for StrandCell<T> {}

impl<T> StrandCell<T> {
    /// A cell holding `value`.
    pub const fn new(value: T) -> Self {
        StrandCell(RefCell::new(value))
    }

    /// Runs `action` with the value borrowed mutably; panics if it already is.
    pub fn with<R>(&self, action: impl FnOnce(&mut T) -> R) -> R {
        action(&mut self.0.borrow_mut())
    }

    /// Runs `action` with the value borrowed shared, unless it is borrowed
    /// mutably now (a fatal-trap report peeking at the state).
    pub fn try_peek<R>(&self, action: impl FnOnce(&T) -> R) -> Option<R> {
        self.0.try_borrow().ok().map(|value| action(&value))
    }
}

/// Memory the assembly reads and writes by symbol name while no Rust code
/// runs (a save area); Rust reaches it only through [`AsmShared::get_mut`].
#[repr(transparent)]
pub struct AsmShared<T>(UnsafeCell<T>);

// SAFETY: as for StrandCell: one strand; the assembly touches the value
// only before Rust is called and after it returned.
unsafe impl<T> Sync for AsmShared<T> {}

impl<T> AsmShared<T> {
    /// Memory holding `value`.
    pub const fn new(value: T) -> Self {
        AsmShared(UnsafeCell::new(value))
    }

    /// The value, for the Rust handler the assembly called.
    ///
    /// # Safety
    /// Only from that handler (the assembly is suspended in the call), and
    /// no other reference to the value may be alive.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn get_mut(&self) -> &mut T {
        // SAFETY: the caller guarantees exclusive access (see above).
        unsafe { &mut *self.0.get() }
    }
}
