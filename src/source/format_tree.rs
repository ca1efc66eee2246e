//! The formatter's layout tree: nodes, their entries and blocks, with every
//! comment where it was written (own line, end of a line, between entries)
//! and blank lines between nodes. Built from `format_lex` tokens.
//!
//! A construct the tree does not model (a comment inside a type
//! annotation or after `/-`) gives `Err(offset)`: the formatter refuses the
//! file rather than move or lose the comment.

use super::format_lex::{Kind, Token};

#[derive(Debug, Default)]
pub(super) struct Block<'a> {
    pub(super) items: Vec<Item<'a>>,
}

#[derive(Debug)]
pub(super) enum Item<'a> {
    Node(Node<'a>),
    /// A comment between nodes; `same_line` when other text precedes it on
    /// its line (it then stays at the end of that line).
    Comment {
        text: &'a str,
        same_line: bool,
    },
    /// One or more empty lines between two items.
    Blank,
}

#[derive(Debug)]
pub(super) struct Node<'a> {
    pub(super) slashdash: bool,
    pub(super) ty: Option<&'a str>,
    pub(super) name: &'a str,
    pub(super) parts: Vec<Part<'a>>,
    /// Comments after the node on its last line.
    pub(super) trailing: Vec<&'a str>,
}

#[derive(Debug)]
pub(super) enum Part<'a> {
    Entry(Entry<'a>),
    /// A block comment between entries.
    Comment(&'a str),
    /// A `\` line continuation the author wrote, with its comment if any.
    Continuation(Option<&'a str>),
    Children {
        slashdash: bool,
        block: Block<'a>,
    },
}

#[derive(Debug)]
pub(super) struct Entry<'a> {
    pub(super) slashdash: bool,
    pub(super) key: Option<&'a Token<'a>>,
    pub(super) ty: Option<&'a str>,
    pub(super) value: &'a Token<'a>,
}

/// The document in `tokens`, or the offset of what cannot be laid out.
pub(super) fn document<'a>(tokens: &'a [Token<'a>]) -> Result<Block<'a>, usize> {
    let mut p = Parser { tokens, pos: 0 };
    let block = p.block(false)?;
    match p.peek() {
        None => Ok(block),
        Some(t) => Err(t.offset),
    }
}

struct Parser<'a> {
    tokens: &'a [Token<'a>],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&'a Token<'a>> {
        self.tokens.get(self.pos)
    }

    fn peek_kind(&self) -> Option<Kind> {
        self.peek().map(|t| t.kind)
    }

    fn next(&mut self) -> Option<&'a Token<'a>> {
        let t = self.tokens.get(self.pos);
        self.pos += 1;
        t
    }

    /// The offset to blame: the current token, or the end.
    fn here(&self) -> usize {
        self.peek().or(self.tokens.last()).map_or(0, |t| t.offset)
    }

    fn expect(&mut self, kind: Kind) -> Result<&'a Token<'a>, usize> {
        match self.peek() {
            Some(t) if t.kind == kind => {
                self.pos += 1;
                Ok(t)
            }
            _ => Err(self.here()),
        }
    }

    /// Nodes and comments up to the closing brace (`nested`) or the end.
    fn block(&mut self, nested: bool) -> Result<Block<'a>, usize> {
        let mut block = Block::default();
        // Text before on this line: `{` opens a block mid-line.
        let mut line_start = !nested;
        let mut newlines = 0;
        loop {
            let Some(token) = self.peek() else {
                return if nested { Err(self.here()) } else { Ok(block) };
            };
            if token.kind == Kind::CloseBrace && nested {
                self.pos += 1;
                return Ok(block);
            }
            if token.kind == Kind::Newline {
                self.pos += 1;
                newlines += 1;
                line_start = true;
                continue;
            }
            if newlines >= 2 && !block.items.is_empty() {
                block.items.push(Item::Blank);
            }
            newlines = 0;
            match token.kind {
                Kind::LineComment | Kind::BlockComment => {
                    self.pos += 1;
                    block.items.push(Item::Comment {
                        text: token.text,
                        same_line: !line_start,
                    });
                }
                Kind::Semicolon => self.pos += 1,
                // A `\` between nodes continues nothing: dropped, its
                // comment kept.
                Kind::Continuation => {
                    if let Part::Continuation(Some(text)) = self.continuation()? {
                        block.items.push(Item::Comment {
                            text,
                            same_line: !line_start,
                        });
                    }
                    newlines = 1;
                    line_start = true;
                    continue;
                }
                _ => block.items.push(Item::Node(self.node()?)),
            }
            // A node ends before its line break (or after `;` or its
            // trailing comment), a comment before the break.
            line_start = false;
        }
    }

    fn node(&mut self) -> Result<Node<'a>, usize> {
        let slashdash = self.slashdash()?;
        let ty = self.type_annotation()?;
        let name = self.string()?.text;
        let mut node = Node {
            slashdash,
            ty,
            name,
            parts: Vec::new(),
            trailing: Vec::new(),
        };
        loop {
            match self.peek_kind() {
                None | Some(Kind::Newline | Kind::CloseBrace) => return Ok(node),
                Some(Kind::Semicolon) => {
                    self.pos += 1;
                    return Ok(node);
                }
                Some(Kind::LineComment) => {
                    node.trailing.push(self.next().expect("peeked").text);
                    return Ok(node);
                }
                Some(Kind::BlockComment) => {
                    node.parts
                        .push(Part::Comment(self.next().expect("peeked").text));
                }
                Some(Kind::Continuation) => node.parts.push(self.continuation()?),
                _ => node.parts.push(self.entry_or_children()?),
            }
        }
    }

    /// `/-` before a node, entry or block; line breaks after it are
    /// dropped, a comment after it is refused (it would have to move).
    fn slashdash(&mut self) -> Result<bool, usize> {
        if self.peek_kind() != Some(Kind::Slashdash) {
            return Ok(false);
        }
        self.pos += 1;
        while self.peek_kind() == Some(Kind::Newline) {
            self.pos += 1;
        }
        match self.peek_kind() {
            Some(k) if k.is_comment() => Err(self.here()),
            _ => Ok(true),
        }
    }

    fn type_annotation(&mut self) -> Result<Option<&'a str>, usize> {
        if self.peek_kind() != Some(Kind::OpenParen) {
            return Ok(None);
        }
        self.pos += 1;
        let ty = self.string()?.text;
        self.expect(Kind::CloseParen)?;
        Ok(Some(ty))
    }

    fn string(&mut self) -> Result<&'a Token<'a>, usize> {
        match self.peek() {
            Some(t) if t.kind.is_string_or_value() => {
                self.pos += 1;
                Ok(t)
            }
            _ => Err(self.here()),
        }
    }

    fn continuation(&mut self) -> Result<Part<'a>, usize> {
        self.expect(Kind::Continuation)?;
        let comment = match self.peek_kind() {
            Some(Kind::LineComment) => Some(self.next().expect("peeked").text),
            _ => None,
        };
        match self.peek_kind() {
            Some(Kind::Newline) => self.pos += 1,
            None => {}
            _ => return Err(self.here()),
        }
        Ok(Part::Continuation(comment))
    }

    fn entry_or_children(&mut self) -> Result<Part<'a>, usize> {
        let slashdash = self.slashdash()?;
        if self.peek_kind() == Some(Kind::OpenBrace) {
            self.pos += 1;
            let block = self.block(true)?;
            return Ok(Part::Children { slashdash, block });
        }
        let ty = self.type_annotation()?;
        let first = self.string()?;
        if self.peek_kind() != Some(Kind::Equals) {
            return Ok(Part::Entry(Entry {
                slashdash,
                key: None,
                ty,
                value: first,
            }));
        }
        if ty.is_some() {
            return Err(first.offset);
        }
        self.pos += 1;
        let ty = self.type_annotation()?;
        let value = self.string()?;
        Ok(Part::Entry(Entry {
            slashdash,
            key: Some(first),
            ty,
            value,
        }))
    }
}
