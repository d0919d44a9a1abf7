//! What the unit tests of several modules share.

/// Asserts that `words` says each of `needles`, naming the first it does not.
#[track_caller]
pub(crate) fn assert_says(words: &str, needles: &[&str]) {
    for needle in needles {
        assert!(words.contains(needle), "{needle:?} not in {words}");
    }
}
