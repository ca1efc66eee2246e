//! A large text held small while another is worked on: one hash per line,
//! which is all a line diff compares, and the text itself in compressed
//! blocks, from which the few lines a diff prints are read back.
//!
//! `diff --base` holds the base's rendering of a target this way while the
//! branch's rendering is made and compared: at 100,000 rules a PAN-OS
//! rendering is 348 MB of text, its packed form about a tenth of that, so
//! the two sides of the largest target no longer both sit in memory.
//!
//! Lines are split exactly as `similar` splits them for a line diff (after
//! `\n`, `\r\n` or a lone `\r`), so a diff over the hashes lines up with
//! one over the text; the hash decides nothing on its own, since the diff
//! checks every pair of lines it calls equal against the text.

use std::hash::Hasher;

/// Text per compressed block: small enough that reading one line back
/// costs little, large enough that the compressor finds the repetition
/// that rendered configs are made of.
const BLOCK_BYTES: usize = 256 * 1024;

/// A text as line hashes and compressed blocks of whole lines.
#[derive(Clone, Debug, Default)]
pub struct PackedText {
    hashes: Vec<u64>,
    blocks: Vec<Block>,
    len: usize,
}

#[derive(Clone, Debug)]
struct Block {
    /// The index of the block's first line.
    first_line: usize,
    /// The block's text, LZ4-compressed with its length in front.
    compressed: Vec<u8>,
}

impl PackedText {
    /// Packs `text`; the caller drops the text to get the memory back.
    pub fn pack(text: &str) -> Self {
        let mut packed = PackedText {
            hashes: Vec::new(),
            blocks: Vec::new(),
            len: text.len(),
        };
        let (mut block_start, mut block_first_line) = (0, 0);
        let mut offset = 0;
        for line in lines(text) {
            packed.hashes.push(line_hash(line));
            offset += line.len();
            if offset - block_start >= BLOCK_BYTES {
                packed.push_block(block_first_line, &text[block_start..offset]);
                (block_start, block_first_line) = (offset, packed.hashes.len());
            }
        }
        if block_start < offset {
            packed.push_block(block_first_line, &text[block_start..offset]);
        }
        packed.blocks.shrink_to_fit();
        packed.hashes.shrink_to_fit();
        packed
    }

    fn push_block(&mut self, first_line: usize, text: &str) {
        self.blocks.push(Block {
            first_line,
            compressed: lz4_flex::block::compress_prepend_size(text.as_bytes()),
        });
    }

    /// One hash per line, in order.
    pub fn hashes(&self) -> &[u64] {
        &self.hashes
    }

    /// The whole text again.
    pub fn unpack(&self) -> String {
        let mut text = String::with_capacity(self.len);
        for block in 0..self.blocks.len() {
            text.push_str(&self.block_text(block));
        }
        text
    }

    /// Whether this is `text`, unpacked one block at a time.
    pub fn is_text(&self, text: &str) -> bool {
        if self.len != text.len() {
            return false;
        }
        let mut at = 0;
        (0..self.blocks.len()).all(|block| {
            let unpacked = self.block_text(block);
            let same = text.get(at..at + unpacked.len()) == Some(unpacked.as_str());
            at += unpacked.len();
            same
        })
    }

    /// A reader of single lines, which keeps the last block it unpacked:
    /// reading lines in order unpacks each block at most once.
    pub fn reader(&self) -> PackedLines<'_> {
        PackedLines {
            packed: self,
            block: None,
            text: String::new(),
            starts: Vec::new(),
        }
    }

    fn block_text(&self, block: usize) -> String {
        let bytes = lz4_flex::block::decompress_size_prepended(&self.blocks[block].compressed)
            .expect("a block this process compressed decompresses");
        String::from_utf8(bytes).expect("a block holds whole lines of a str")
    }
}

/// Lines of a [`PackedText`], read back one at a time.
pub struct PackedLines<'a> {
    packed: &'a PackedText,
    block: Option<usize>,
    text: String,
    /// Where each line of the unpacked block starts, and where it ends.
    starts: Vec<usize>,
}

impl PackedLines<'_> {
    /// Line `index` (0-based) with its line ending, as split by [`lines`].
    pub fn line(&mut self, index: usize) -> &str {
        let block = self
            .packed
            .blocks
            .partition_point(|b| b.first_line <= index)
            .checked_sub(1)
            .expect("line index within the text");
        if self.block != Some(block) {
            self.text = self.packed.block_text(block);
            self.starts.clear();
            let mut at = 0;
            self.starts.push(at);
            for line in lines(&self.text) {
                at += line.len();
                self.starts.push(at);
            }
            self.block = Some(block);
        }
        let i = index - self.packed.blocks[block].first_line;
        &self.text[self.starts[i]..self.starts[i + 1]]
    }
}

/// The lines of `text`, each with its ending: a line ends after `\n`,
/// after `\r\n`, or after a lone `\r` (as `similar` tokenizes lines); a last
/// line without an ending is a line too.
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= bytes.len() {
            return None;
        }
        let end = match bytes[start..]
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
        {
            Some(i) => {
                let at = start + i;
                if bytes[at] == b'\r' && bytes.get(at + 1) == Some(&b'\n') {
                    at + 2
                } else {
                    at + 1
                }
            }
            None => bytes.len(),
        };
        let line = &text[start..end];
        start = end;
        Some(line)
    })
}

/// The hash a line is compared by. Fast rather than collision-proof: the
/// diff checks every pair of lines whose hashes match against their text.
pub fn line_hash(line: &str) -> u64 {
    let mut hasher = rustc_hash::FxHasher::default();
    hasher.write(line.as_bytes());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The line splits `similar` makes, to hold [`lines`] to them.
    fn similar_lines(text: &str) -> Vec<String> {
        let diff = similar::TextDiff::from_lines(text, "");
        (0..)
            .map_while(|i| diff.old_slice(i).map(str::to_string))
            .collect()
    }

    #[test]
    fn lines_split_as_similar_does() {
        for text in ["", "a", "a\n", "a\r\nb\rc\n\n", "\r\r\n\n", "x\ny"] {
            assert_eq!(
                lines(text).collect::<Vec<_>>(),
                similar_lines(text),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_large_text_packs_into_many_blocks_and_reads_back() {
        let text: String = (0..100_000).map(|i| format!("line {i}\n")).collect();
        let packed = PackedText::pack(&text);
        assert!(packed.blocks.len() > 2, "{} blocks", packed.blocks.len());
        assert_eq!(packed.unpack(), text);
        assert!(packed.is_text(&text));
        assert!(!packed.is_text(&text.replace("line 99999", "line 99998")));
        assert!(!packed.is_text(&text[1..]));
        assert_eq!(packed.hashes().len(), 100_000);
        let mut reader = packed.reader();
        for i in [0, 1, 40_000, 99_999, 3] {
            assert_eq!(reader.line(i), format!("line {i}\n"));
        }
    }

    proptest! {
        #[test]
        fn packing_keeps_every_line(text in "[ab\r\n]{0,64}") {
            prop_assert_eq!(lines(&text).collect::<Vec<_>>(), similar_lines(&text));
            let packed = PackedText::pack(&text);
            prop_assert_eq!(packed.unpack(), text.clone());
            prop_assert!(packed.is_text(&text));
            let mut reader = packed.reader();
            for (i, line) in lines(&text).enumerate() {
                prop_assert_eq!(reader.line(i), line);
                prop_assert_eq!(packed.hashes()[i], line_hash(line));
            }
        }
    }
}
