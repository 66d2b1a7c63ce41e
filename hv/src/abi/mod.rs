//! The sun4v hypervisor-call ABI: numbers and wire layouts, no behaviour.
//!
//! One module per API group. Sources, cited on every constant:
//! - [L] Linux `arch/sparc/include/asm/hypervisor.h`, `arch/sparc/kernel/ldc.c`
//! - [O] the OpenSPARC hypervisor source (`sun4v/hypervisor`, HV 1.5.6)
//! - [I] illumos `uts/sun4v`
//! - [M] this project's migration API group, specified in `hv/API.md`
//!
//! Register convention of a fast trap ([L] hypervisor.h header comment):
//!
//! | register | in                       | out            |
//! |----------|--------------------------|----------------|
//! | `%o5`    | function number          | undefined      |
//! | `%o0`    | ARG0                     | status (`EOK`) |
//! | `%o1`-`%o4` | ARG1-ARG4             | RET1-RET4      |

pub mod core;
pub mod cpu;
pub mod error;
pub mod group;
pub mod ldc;
pub mod migration;
pub mod mmu;
pub mod trap;

/// Defines a group's spec numbers: every `pub const` as written inside
/// (each keeping its doc, which names the spec constant and cites its
/// source), and `$table`, every number in the order given. The module's
/// test compares the table with the spec's numbers written out once more
/// (a wrong number fails it) and checks with [`assert_in_number_order`]
/// that they rise (two constants given the same number fail it).
macro_rules! spec_numbers {
    (
        $(#[$table_meta:meta])*
        $table_vis:vis const $table:ident: [$ty:ty];
        $(
            $(#[$meta:meta])*
            pub const $name:ident: $const_ty:ty = $value:expr;
        )+
    ) => {
        $(
            $(#[$meta])*
            pub const $name: $const_ty = $value;
        )+
        $(#[$table_meta])*
        $table_vis const $table: [$ty; [$(stringify!($name)),+].len()] = [$($name),+];
    };
}

pub(crate) use spec_numbers;

/// Asserts that `numbers` (a [`spec_numbers!`] table) rise strictly: none
/// is given twice, none out of the spec's order.
#[cfg(test)]
pub(crate) fn assert_in_number_order<T: Ord + ::core::fmt::Debug>(numbers: &[T]) {
    for pair in numbers.windows(2) {
        assert!(pair[0] < pair[1], "out of number order: {pair:?}");
    }
}

/// Asserts a `repr(C)` wire type's layout: the offset of each field named
/// and the size.
#[cfg(test)]
macro_rules! assert_layout {
    ($type:ty { $($field:ident: $offset:expr),* $(,)? }, size: $size:expr) => {
        $(
            assert_eq!(
                ::core::mem::offset_of!($type, $field),
                $offset,
                concat!(stringify!($type), ".", stringify!($field)),
            );
        )*
        assert_eq!(::core::mem::size_of::<$type>(), $size, stringify!($type));
    };
}

#[cfg(test)]
pub(crate) use assert_layout;
