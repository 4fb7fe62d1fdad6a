//! lomo-remote's parsers of what servers send: Drive's JSON answers, token
//! and client files, S3's XML answers and restore header. Errors are fine;
//! panics and hangs are not; tokens that parse write back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    lomo_remote::fuzz_hooks::drive_json(data);
    lomo_remote::fuzz_hooks::s3_xml(data);
});
