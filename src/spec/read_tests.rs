//! Reading a spec keeps one copy of its text, in a buffer of its size.

use std::path::Path;

#[test]
fn an_owned_text_becomes_the_document_text_without_a_copy() {
    let text = String::from("apiVersion: lvs-converge/v1\nkind: Host\n");
    let buffer = text.as_ptr();
    let document = super::parse_document(text, Path::new("h.yaml")).expect("parses");
    assert_eq!(document.text().as_ptr(), buffer, "the document copied the text it was given");
}

#[test]
fn a_spec_file_is_read_into_a_buffer_of_its_size() {
    let directory = std::env::temp_dir().join(format!("lvs-converge-read-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let path = directory.join("h.yaml");
    // Past the first doublings of a growing buffer (8 KiB, 16 KiB, ...), not at one.
    let text = format!("apiVersion: lvs-converge/v1\nkind: Host\n{}", "# padding\n".repeat(5000));
    std::fs::write(&path, &text).unwrap();
    let document = super::read(&path).expect("reads");
    std::fs::remove_dir_all(&directory).unwrap();
    assert_eq!(document.text(), text);
    assert!(
        document.index_text.capacity() <= text.len() + 1,
        "a {}-byte spec was read into a {}-byte buffer",
        text.len(),
        document.index_text.capacity()
    );
}
