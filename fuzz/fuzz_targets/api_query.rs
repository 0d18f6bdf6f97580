//! Session API query parameters: paging, cursors, search filters.
#![no_main]
use libfuzzer_sys::fuzz_target;
use warden_core::sessions_api::{self, Query, LIST_PARAMS, SEARCH_PARAMS};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(q) = Query::parse(s, SEARCH_PARAMS) {
        let _ = sessions_api::parse_search(&q);
    }
    if let Ok(q) = Query::parse(s, LIST_PARAMS) {
        let _ = q.limit();
        let _ = sessions_api::user_list_cursor(q.get("cursor"), "user-1");
    }
    let _ = sessions_api::valid_id(s);
    let _ = sessions_api::device(s);
    let _ = sessions_api::path_segment(s);
});
