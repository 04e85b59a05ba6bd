//! [`export_plugin!`](crate::export_plugin): the two exported entry points of a Rust plugin.

/// Exports a [`Plugin`](crate::sdk::Plugin) implementation as an AI² plugin: defines the
/// two symbols of the ABI, `dlopt_ai2_negotiate` and `dlopt_ai2_api`, the latter returning a
/// static `DlAi2Api` table for ABI major 1 whose functions check arguments (NULL pointers
/// give `INVALID_ARGUMENT` naming the parameter), convert them, call the trait, catch every
/// panic (`INTERNAL` with the panic's message) and allocate the error objects the table's
/// `error_destroy` frees.
///
/// Use it once, at the root of a crate built as a `cdylib`, with `panic = "unwind"` (the
/// default; with `panic = "abort"` a panic ends the host's process instead):
///
/// ```ignore
/// dlopt_ai2::export_plugin!(MyPlugin, "my_plugin", env!("CARGO_PKG_VERSION"), "my_plugin");
/// ```
///
/// `name` and `interface` (the devices' `'ai_accelerator_interface'`) must be ASCII
/// letters, digits and `_` (checked at compile time); all three are string literals or
/// `env!` / `concat!` calls. The functions are also callable from Rust (`crate::dlopt_ai2_api`),
/// which lets a plugin's tests drive its table without loading the shared library.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty, $name:expr, $version:expr, $interface:expr $(,)?) => {
        const _: () = assert!(
            $crate::sdk::glue::is_valid_plugin_name($name),
            "the plugin name must be ASCII letters, digits and '_'"
        );
        const _: () = assert!(
            $crate::sdk::glue::is_valid_plugin_name($interface),
            "the interface name must be ASCII letters, digits and '_'"
        );

        static __DLOPT_AI2_API_TABLE: $crate::sdk::glue::ApiTable =
            $crate::sdk::glue::ApiTable::new::<$plugin>(
                concat!($name, "\0"),
                concat!($version, "\0"),
                concat!($interface, "\0"),
            );

        /// AI² version negotiation (see `include/dlopt_ai2.h`): accepts ABI major 1 with any
        /// minor and answers the minor both sides speak; returns non-zero to refuse.
        ///
        /// # Safety
        /// `plugin_major` and `plugin_minor` must be NULL or writable.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn dlopt_ai2_negotiate(
            host_major: u32,
            host_minor: u32,
            plugin_major: *mut u32,
            plugin_minor: *mut u32,
        ) -> i32 {
            // SAFETY: forwarded from the caller.
            unsafe {
                $crate::sdk::glue::negotiate(host_major, host_minor, plugin_major, plugin_minor)
            }
        }

        /// The AI² function table for ABI `major` (see `include/dlopt_ai2.h`), or NULL.
        #[unsafe(no_mangle)]
        pub extern "C" fn dlopt_ai2_api(major: u32) -> *const $crate::abi::DlAi2Api {
            __DLOPT_AI2_API_TABLE.for_major(major)
        }
    };
}
