//! The checked-in plugin header must be exactly what cbindgen generates from `src/abi.rs`.

use std::path::Path;

#[test]
fn plugin_header_is_current() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen could not generate the plugin header");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let path = crate_dir.join("../../include/dlopt_ai2.h");
    if std::env::var_os("DLOPT_BLESS_HEADER").is_some() {
        std::fs::write(&path, &generated).expect("write include/dlopt_ai2.h");
        return;
    }
    let checked_in = std::fs::read(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "include/dlopt_ai2.h is stale: regenerate it with `DLOPT_BLESS_HEADER=1 cargo test -p dlopt-ai2 --test header`"
    );
}
