//! Fuzz target: `dlopt::model::file::decode` (read_dl_model of dlopt's own format) on
//! arbitrary bytes must never panic; a file it accepts must encode again.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = dlopt::model::file::decode(data) {
        dlopt::model::file::encode(&model.state()).expect("an accepted model can be written again");
    }
});
