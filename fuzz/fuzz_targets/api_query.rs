//! Session API query parameters: paging, cursors, search filters.
#![no_main]
use libfuzzer_sys::fuzz_target;
use warden_core::api::sessions::{self as api, Query, LIST_PARAMS, SEARCH_PARAMS};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(q) = Query::parse(s, SEARCH_PARAMS) {
        let _ = api::parse_search(&q);
    }
    if let Ok(q) = Query::parse(s, LIST_PARAMS) {
        let _ = q.limit();
        let _ = api::user_list_cursor(q.get("cursor"), "user-1");
    }
    let _ = api::valid_id(s);
    let _ = api::device(s);
    let _ = api::path_segment(s);
});
