//! Build script: gives the shared library a soname, so programs linked against
//! `libdlopt.so` find it again after installation.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libdlopt.so");
    }
}
