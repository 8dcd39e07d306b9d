//! SQL text handling for routing: a byte-level tokenizer ([`lexer`]) and the
//! statement classifier ([`classify()`]) every `COM_QUERY` goes through on a
//! worker thread. The routing-subset parser (table references, shard-key
//! predicates, INSERT rows, hints) builds on the same [`Token`] stream.
//!
//! Tokens are `(kind, byte range)` over the query bytes: nothing is copied or
//! allocated per token, and the text need not be UTF-8.

pub mod classify;
pub mod lexer;
pub mod parse;

pub use classify::{classify, split_statements, Assignment, Kind, Scope, Statement};
pub use lexer::{
    count_placeholders, string_value, tokenize, tokenize_into, unquote_ident, Kw, LexError,
    LexOptions, Lexer, MbCharset, Op, Token, TokenKind,
};
pub use parse::{mentions, parse, Parsed};
