//! The checked-in C header must be exactly what cbindgen generates from the sources.

use std::path::Path;

#[test]
fn header_is_current() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen could not generate the header");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let path = crate_dir.join("include/dlopt.h");
    if std::env::var_os("DLOPT_BLESS_HEADER").is_some() {
        std::fs::write(&path, &generated).expect("write include/dlopt.h");
        return;
    }
    let checked_in = std::fs::read(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "include/dlopt.h is stale: regenerate it with `DLOPT_BLESS_HEADER=1 cargo test --test header` and commit it"
    );
}
