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

/// Functions of the tuple API and dlopt's C helpers have no `T_` form in HALCON/C.
const NOT_OPERATORS: &[&str] = &[
    "create_tuple",
    "create_tuple_i",
    "create_tuple_d",
    "create_tuple_s",
    "create_tuple_h",
    "set_i",
    "set_d",
    "set_s",
    "set_h",
    "get_i",
    "get_d",
    "get_s",
    "get_h",
    "get_type",
    "length_tuple",
    "copy_tuple",
    "resize_tuple",
    "destroy_tuple",
];

#[test]
fn every_operator_has_its_halcon_tuple_mode_alias() {
    let header =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("include/dlopt.h"))
            .expect("include/dlopt.h");
    let operators: Vec<&str> = header
        .lines()
        .filter_map(|line| line.strip_prefix("Herror ")?.split('(').next())
        .filter(|name| !NOT_OPERATORS.contains(name))
        .collect();
    assert!(operators.len() > 30, "found only {} operators", operators.len());
    for operator in operators {
        let alias = format!("#define T_{operator} {operator}\n");
        assert!(header.contains(&alias), "missing `{}` in cbindgen.toml's trailer", alias.trim());
    }
}
