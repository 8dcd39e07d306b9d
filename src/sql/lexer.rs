//! The SQL tokenizer: MySQL/MariaDB lexical rules over raw bytes.
//!
//! Every `COM_QUERY` a worker handles is cut into tokens here first; the
//! statement classifier ([`super::classify()`]) and the routing-subset parser
//! built later read the same token stream. A [`Token`] is a kind plus a byte
//! range into the input, so lexing allocates nothing and a rewriter can splice
//! the original text. The input need not be UTF-8: bytes >= 0x80 are
//! identifier bytes, and for the multi-byte client charsets whose trailing
//! bytes can look like `\` or `'` (GBK, Big5, SJIS) [`LexOptions::charset`]
//! keeps such pairs together.
//!
//! Whitespace and ordinary comments (`-- `, `#`, `/* */`) are skipped.
//! Executable comments (`/*! */`, `/*!50100 */`, `/*M! */`) are transparent:
//! their content is lexed as SQL, as the server executes it. Optimizer-hint
//! comments (`/*+ ... */`) come out as one [`TokenKind::Hint`] token.
//! Malformed input (an unterminated string or comment) yields one
//! [`TokenKind::Error`] token and then the end of the stream; nothing panics.
//!
//! Keywords are matched case-insensitively without allocating: the lowercased
//! word is packed into a `u128` and looked up in a hash table built at
//! compile time. Only the words
//! the classifier and the routing parser need are keywords ([`Kw`]); most of
//! them are non-reserved in MySQL, so a parser must accept a `Keyword` token
//! where an identifier is expected. A word right after `.` is always `Ident`.
//!
//! <https://dev.mysql.com/doc/refman/8.0/en/lexical-structure.html>
//! <https://mariadb.com/kb/en/sql-language-structure/>

use std::borrow::Cow;
use std::ops::Range;

/// Session settings that change how text is tokenized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LexOptions {
    /// `\` escapes inside string literals. `false` when the session's
    /// `sql_mode` contains `NO_BACKSLASH_ESCAPES`.
    pub backslash_escapes: bool,
    /// `"..."` is a quoted identifier rather than a string (`ANSI_QUOTES`).
    pub ansi_quotes: bool,
    /// The client character set, as far as lexing cares.
    pub charset: MbCharset,
}

impl Default for LexOptions {
    fn default() -> Self {
        LexOptions {
            backslash_escapes: true,
            ansi_quotes: false,
            charset: MbCharset::AsciiSafe,
        }
    }
}

/// Client charsets whose multi-byte characters can contain ASCII bytes.
///
/// UTF-8, latin1 and the like never put a byte < 0x80 inside a multi-byte
/// character, so they are all `AsciiSafe`. GBK, GB18030, Big5 and SJIS/CP932
/// can have `\`, `'` or `` ` `` as a trailing byte; lexing them as ASCII would
/// end a string early (the classic GBK escaping hole).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MbCharset {
    AsciiSafe,
    /// gbk, gb2312, gb18030: lead 0x81-0xFE, trail 0x40-0x7E / 0x80-0xFE.
    Gbk,
    /// big5: lead 0xA1-0xF9, trail 0x40-0x7E / 0xA1-0xFE.
    Big5,
    /// sjis, cp932: lead 0x81-0x9F / 0xE0-0xFC, trail 0x40-0x7E / 0x80-0xFC.
    Sjis,
}

impl MbCharset {
    /// The lexing class of a MySQL charset name (`character_set_client`).
    pub fn from_name(name: &[u8]) -> MbCharset {
        let n = name;
        let is = |w: &[u8]| n.eq_ignore_ascii_case(w);
        if is(b"gbk") || is(b"gb2312") || is(b"gb18030") {
            MbCharset::Gbk
        } else if is(b"big5") {
            MbCharset::Big5
        } else if is(b"sjis") || is(b"cp932") {
            MbCharset::Sjis
        } else {
            MbCharset::AsciiSafe
        }
    }

    /// Length (1 or 2) of the character starting with `b0`, given the next byte.
    #[inline]
    fn char_len(self, b0: u8, b1: Option<u8>) -> usize {
        let pair = match (self, b1) {
            (MbCharset::AsciiSafe, _) | (_, None) => false,
            (MbCharset::Gbk, Some(b1)) => {
                (0x81..=0xFE).contains(&b0) && ((0x40..=0x7E).contains(&b1) || b1 >= 0x80)
            }
            (MbCharset::Big5, Some(b1)) => {
                (0xA1..=0xF9).contains(&b0)
                    && ((0x40..=0x7E).contains(&b1) || (0xA1..=0xFE).contains(&b1))
            }
            (MbCharset::Sjis, Some(b1)) => {
                ((0x81..=0x9F).contains(&b0) || (0xE0..=0xFC).contains(&b0))
                    && ((0x40..=0x7E).contains(&b1) || (0x80..=0xFC).contains(&b1))
            }
        };
        if pair && b1 != Some(0xFF) {
            2
        } else {
            1
        }
    }
}

/// What a token is. Together with its byte range this is the whole token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// Unquoted identifier (letters, digits, `_`, `$`, bytes >= 0x80) that is
    /// not a recognised keyword, or any word right after a `.`.
    Ident,
    /// A recognised keyword (case-insensitive). May still be used as a name.
    Keyword(Kw),
    /// `` `name` `` (doubled backquotes inside), or `"name"` under ANSI_QUOTES.
    QuotedIdent,
    /// `'text'`, `"text"` or `N'text'`; see [`string_value`].
    String,
    /// A charset introducer such as `_utf8mb4`; the literal follows.
    Introducer,
    /// `X'4142'` or `0x4142`.
    HexString,
    /// `B'0101'` or `0b0101`.
    BitString,
    /// `42`
    Integer,
    /// `4.2`, `.5`, `4.`
    Decimal,
    /// `4e2`, `4.2E-1`
    Float,
    /// `@name`, `@'name'`, `` @`name` ``, `@"name"`.
    UserVar,
    /// `@@name`, `@@session.name`, `@@global.name`, ...
    SysVar,
    /// `?`
    Placeholder,
    Op(Op),
    LParen,
    RParen,
    Comma,
    Semicolon,
    Dot,
    /// `@` between a user and a host name: `'app'@'%'`, `root@localhost`.
    At,
    /// An optimizer-hint comment `/*+ ... */`, delimiters included.
    Hint,
    /// A byte that starts no token (`{`, `}`, `\`, control bytes).
    Unknown,
    /// Malformed input; always the last token.
    Error(LexError),
}

/// Operators, longest match first (`<=>` before `<=` before `<`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `<=>`
    NullSafeEq,
    /// `<>` or `!=`
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `:=`
    Assign,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Caret,
    Amp,
    Pipe,
    Tilde,
    Bang,
    /// `<<`
    Shl,
    /// `>>`
    Shr,
    /// `&&`
    AndAnd,
    /// `||`
    OrOr,
    /// `->`
    Arrow,
    /// `->>`
    LongArrow,
    /// `:` (labels)
    Colon,
}

/// Why the input could not be tokenized to its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LexError {
    UnterminatedString,
    UnterminatedQuotedIdent,
    /// A `/* */`, `/*+ */` or `/*! */` comment without its `*/`.
    UnterminatedComment,
}

/// One token: its kind and the byte range `start..end` of the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub start: usize,
    pub end: usize,
}

impl Token {
    #[inline]
    pub fn range(&self) -> Range<usize> {
        self.start..self.end
    }

    /// The token's bytes in `src` (the input it was lexed from).
    #[inline]
    pub fn text<'a>(&self, src: &'a [u8]) -> &'a [u8] {
        src.get(self.start..self.end).unwrap_or(&[])
    }

    #[inline]
    pub fn kw(&self) -> Option<Kw> {
        match self.kind {
            TokenKind::Keyword(k) => Some(k),
            _ => None,
        }
    }

    #[inline]
    pub fn is_kw(&self, k: Kw) -> bool {
        self.kind == TokenKind::Keyword(k)
    }

    /// A literal (string, number, hex/bit string, introducer) or a word:
    /// a value that means the same on any connection.
    #[inline]
    pub fn is_literal_or_word(&self) -> bool {
        self.is_word()
            || matches!(
                self.kind,
                TokenKind::String
                    | TokenKind::Introducer
                    | TokenKind::HexString
                    | TokenKind::BitString
                    | TokenKind::Integer
                    | TokenKind::Decimal
                    | TokenKind::Float
            )
    }

    /// An identifier, keyword or quoted identifier: anything usable as a name.
    #[inline]
    pub fn is_word(&self) -> bool {
        matches!(
            self.kind,
            TokenKind::Ident | TokenKind::Keyword(_) | TokenKind::QuotedIdent
        )
    }
}

// ---------------------------------------------------------------------------
// Keywords

/// Packs up to 16 ASCII bytes into a `u128` (first byte lowest).
const fn pack(s: &[u8]) -> u128 {
    assert!(s.len() <= 16, "keyword longer than 16 bytes");
    let mut v = 0u128;
    let mut i = 0;
    while i < s.len() {
        v |= (s[i] as u128) << (8 * i);
        i += 1;
    }
    v
}

/// Slots of the keyword hash table (power of two, ~2.5x the keywords).
const KW_SLOTS: usize = 512;

/// Open-addressing hash table from packed lowercase word to keyword, built
/// at compile time (a duplicate keyword fails the build).
struct KwTable {
    keys: [u128; KW_SLOTS],
    vals: [Option<Kw>; KW_SLOTS],
}

impl KwTable {
    /// Multiply-shift hash of a packed word to a slot.
    #[inline]
    const fn slot(v: u128) -> usize {
        let x = (v as u64) ^ ((v >> 64) as u64).rotate_left(29);
        (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - KW_SLOTS.trailing_zeros())) as usize
    }

    const fn build(list: &[(u128, Kw)]) -> KwTable {
        assert!(list.len() * 2 < KW_SLOTS, "keyword table too full");
        let mut t = KwTable {
            keys: [0; KW_SLOTS],
            vals: [None; KW_SLOTS],
        };
        let mut i = 0;
        while i < list.len() {
            let (k, v) = list[i];
            let mut s = Self::slot(k);
            while t.vals[s].is_some() {
                assert!(t.keys[s] != k, "duplicate keyword");
                s = (s + 1) % KW_SLOTS;
            }
            t.keys[s] = k;
            t.vals[s] = Some(v);
            i += 1;
        }
        t
    }

    #[inline]
    fn get(&self, v: u128) -> Option<Kw> {
        let mut s = Self::slot(v);
        loop {
            match self.vals[s] {
                None => return None,
                Some(k) if self.keys[s] == v => return Some(k),
                Some(_) => s = (s + 1) % KW_SLOTS,
            }
        }
    }
}

macro_rules! keywords {
    (short { $($s:ident = $st:literal,)* } long { $($l:ident = $lt:literal,)* }) => {
        /// Keywords the classifier and routing parser look at.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Kw { $($s,)* $($l,)* }

        impl Kw {
            /// The keyword in lowercase.
            pub fn as_str(self) -> &'static str {
                match self { $(Kw::$s => $st,)* $(Kw::$l => $lt,)* }
            }

            #[inline]
            fn from_packed(v: u128) -> Option<Kw> {
                static TABLE: KwTable = KwTable::build(&[$((pack($st.as_bytes()), Kw::$s),)*]);
                TABLE.get(v)
            }

            #[cold]
            fn from_long(word: &[u8]) -> Option<Kw> {
                $(if word.eq_ignore_ascii_case($lt.as_bytes()) { return Some(Kw::$l); })*
                None
            }
        }

        #[cfg(test)]
        pub(crate) const ALL_KEYWORDS: &[Kw] = &[$(Kw::$s,)* $(Kw::$l,)*];
    };
}

keywords! {
    short {
        Aggregate = "aggregate", All = "all", Alter = "alter", Analyze = "analyze",
        And = "and", As = "as", Asc = "asc", Begin = "begin", Between = "between",
        By = "by", Call = "call", Case = "case", Chain = "chain",
        Character = "character", Charset = "charset", Check = "check",
        Checksum = "checksum", Collate = "collate", Commit = "commit",
        Connection = "connection", Consistent = "consistent", Create = "create",
        Cross = "cross", Data = "data", Database = "database",
        Deallocate = "deallocate", Default = "default", Definer = "definer",
        Delayed = "delayed", Delete = "delete", Desc = "desc", Describe = "describe",
        Distinct = "distinct", Div = "div", Do = "do", Drop = "drop",
        Dumpfile = "dumpfile", Duplicate = "duplicate", Else = "else", End = "end",
        Event = "event", Except = "except", Execute = "execute", Exists = "exists",
        Explain = "explain", Export = "export", Extended = "extended", False = "false",
        Flush = "flush", For = "for", Format = "format", FoundRows = "found_rows",
        From = "from", Function = "function", GetLock = "get_lock", Global = "global",
        Grant = "grant", Group = "group", Handler = "handler", Having = "having",
        Help = "help", HighPriority = "high_priority", Ignore = "ignore", In = "in",
        Index = "index", Infile = "infile", Inner = "inner", Insert = "insert",
        Instance = "instance", Intersect = "intersect", Interval = "interval",
        Into = "into", Is = "is", IsFreeLock = "is_free_lock", IsUsedLock = "is_used_lock",
        Join = "join", Key = "key", Kill = "kill", LastInsertId = "last_insert_id",
        Lastval = "lastval", Lateral = "lateral", Left = "left", Like = "like",
        Limit = "limit", Load = "load", Local = "local", Lock = "lock", Locked = "locked",
        LowPriority = "low_priority", Mod = "mod", Mode = "mode", Names = "names",
        Natural = "natural", Next = "next", No = "no", Not = "not", Nowait = "nowait",
        Null = "null", Of = "of", Offset = "offset", On = "on", Only = "only",
        Optimize = "optimize", Or = "or", Order = "order", Outer = "outer",
        Outfile = "outfile", Over = "over", Partition = "partition",
        Partitions = "partitions", Persist = "persist", PersistOnly = "persist_only",
        Prepare = "prepare", Procedure = "procedure", Query = "query", Quick = "quick",
        Read = "read", Recursive = "recursive", Regexp = "regexp", Release = "release",
        ReleaseLock = "release_lock", Rename = "rename", Repair = "repair",
        Replace = "replace", Returning = "returning", Revoke = "revoke", Right = "right",
        Rollback = "rollback", Row = "row", RowCount = "row_count", Savepoint = "savepoint",
        Schema = "schema", Select = "select", Session = "session", Set = "set",
        Setval = "setval", Nextval = "nextval", Share = "share", Show = "show",
        Skip = "skip", Snapshot = "snapshot", Start = "start",
        StraightJoin = "straight_join", Table = "table", Tables = "tables",
        Temporary = "temporary", Then = "then", To = "to", Transaction = "transaction",
        Trigger = "trigger", True = "true", Truncate = "truncate", Union = "union",
        Unlock = "unlock", Update = "update", Use = "use", Using = "using",
        Value = "value", Values = "values", View = "view", When = "when",
        Where = "where", Window = "window", With = "with", Work = "work",
        Write = "write", Xa = "xa", Xml = "xml", Xor = "xor",
    }
    long {
        SqlCalcFoundRows = "sql_calc_found_rows",
        ReleaseAllLocks = "release_all_locks",
        NoWriteToBinlog = "no_write_to_binlog",
    }
}

impl Kw {
    /// The keyword for `word` (any case), if it is one.
    #[inline]
    pub fn lookup(word: &[u8]) -> Option<Kw> {
        if word.len() > 16 {
            return Kw::from_long(word);
        }
        // Same layout as `pack`, first byte lowest. Two u64 halves: a
        // variable u128 shift or a memcpy into a buffer costs several
        // times more.
        let (mut lo, mut hi) = (0u64, 0u64);
        for (i, &b) in word.iter().enumerate() {
            let b = u64::from(b.to_ascii_lowercase());
            if i < 8 {
                lo |= b << (8 * i);
            } else {
                hi |= b << (8 * (i - 8));
            }
        }
        Kw::from_packed(u128::from(lo) | (u128::from(hi) << 64))
    }
}

// ---------------------------------------------------------------------------
// Byte classes

const C_IDENT: u8 = 1; // may continue an unquoted identifier
const C_DIGIT: u8 = 2;
const C_SPACE: u8 = 4;
const C_HEX: u8 = 8;

static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut c = 0;
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80 {
            c |= C_IDENT;
        }
        if b.is_ascii_digit() {
            c |= C_DIGIT;
        }
        if b.is_ascii_hexdigit() {
            c |= C_HEX;
        }
        if matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0B | 0x0C) {
            c |= C_SPACE;
        }
        t[i] = c;
        i += 1;
    }
    t
};

#[inline]
fn class(b: u8) -> u8 {
    CLASS[usize::from(b)]
}

/// Charset names accepted as `_name` introducers.
const CHARSETS: &[&[u8]] = &[
    b"armscii8",
    b"ascii",
    b"big5",
    b"binary",
    b"cp1250",
    b"cp1251",
    b"cp1256",
    b"cp1257",
    b"cp850",
    b"cp852",
    b"cp866",
    b"cp932",
    b"dec8",
    b"eucjpms",
    b"euckr",
    b"filename",
    b"gb18030",
    b"gb2312",
    b"gbk",
    b"geostd8",
    b"greek",
    b"hebrew",
    b"hp8",
    b"keybcs2",
    b"koi8r",
    b"koi8u",
    b"latin1",
    b"latin2",
    b"latin5",
    b"latin7",
    b"macce",
    b"macroman",
    b"sjis",
    b"swe7",
    b"tis620",
    b"ucs2",
    b"ujis",
    b"utf16",
    b"utf16le",
    b"utf32",
    b"utf8",
    b"utf8mb3",
    b"utf8mb4",
];

// ---------------------------------------------------------------------------
// The lexer

/// An iterator of tokens over one query. Cheap to clone (to look ahead or
/// to resume later from the same point).
#[derive(Clone, Debug)]
pub struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    opts: LexOptions,
    /// Inside `/*! ... */`: the next `*/` closes it. Holds its start.
    exec_comment: Option<usize>,
    /// Kind and end of the previous token, for context-dependent rules.
    prev: Option<(TokenKind, usize)>,
    done: bool,
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a [u8], opts: LexOptions) -> Self {
        Lexer {
            src,
            pos: 0,
            opts,
            exec_comment: None,
            prev: None,
            done: false,
        }
    }

    /// The input being tokenized.
    pub fn src(&self) -> &'a [u8] {
        self.src
    }

    /// Byte offset of the next unread byte.
    pub fn pos(&self) -> usize {
        self.pos
    }

    #[inline]
    fn at(&self, i: usize) -> Option<u8> {
        self.src.get(i).copied()
    }

    #[inline]
    fn tok(&mut self, kind: TokenKind, start: usize, end: usize) -> Token {
        self.pos = end;
        self.prev = Some((kind, end));
        Token { kind, start, end }
    }

    fn error(&mut self, e: LexError, start: usize) -> Token {
        self.done = true;
        let end = self.src.len();
        self.tok(TokenKind::Error(e), start, end)
    }

    /// Whether the previous token ends exactly at `i` and is name-like, so
    /// that `.`/`@` at `i` joins onto it (`t.5`, `'u'@'h'`).
    #[inline]
    fn glued_to_name(&self, i: usize) -> bool {
        matches!(self.prev, Some((k, end)) if end == i && matches!(k,
            TokenKind::Ident | TokenKind::Keyword(_) | TokenKind::QuotedIdent | TokenKind::String))
    }

    /// End of the quoted text whose opening quote `q` is at `start`.
    fn scan_quoted(&self, start: usize, q: u8) -> Option<usize> {
        let src = self.src;
        let escapes = self.opts.backslash_escapes && q != b'`';
        let cs = self.opts.charset;
        let mut i = start + 1;
        while let Some(&b) = src.get(i) {
            if b == q {
                if src.get(i + 1) == Some(&q) {
                    i += 2;
                    continue;
                }
                return Some(i + 1);
            }
            if b == b'\\' && escapes {
                i += 2;
                continue;
            }
            if b >= 0x80 {
                i += cs.char_len(b, src.get(i + 1).copied());
            } else {
                i += 1;
            }
        }
        None
    }

    /// End of the unquoted identifier characters from `i`.
    #[inline]
    fn scan_ident(&self, mut i: usize) -> usize {
        let src = self.src;
        let cs = self.opts.charset;
        while let Some(&b) = src.get(i) {
            if class(b) & C_IDENT == 0 {
                break;
            }
            if b >= 0x80 {
                i += cs.char_len(b, src.get(i + 1).copied());
            } else {
                i += 1;
            }
        }
        i.min(src.len())
    }

    fn string_or_error(&mut self, start: usize, q: u8, kind: TokenKind) -> Token {
        // N'...', X'...', B'...': the quote is one byte in.
        let open = if self.at(start) == Some(q) {
            start
        } else {
            start + 1
        };
        match self.scan_quoted(open, q) {
            Some(end) => self.tok(kind, start, end),
            None if q == b'`' || kind == TokenKind::QuotedIdent => {
                self.error(LexError::UnterminatedQuotedIdent, start)
            }
            None => self.error(LexError::UnterminatedString, start),
        }
    }

    /// Number or digit-led identifier starting at `start` (a digit or `.`).
    fn number(&mut self, start: usize) -> Token {
        let src = self.src;
        let digits = |mut i: usize| {
            while src.get(i).is_some_and(|&b| class(b) & C_DIGIT != 0) {
                i += 1;
            }
            i
        };
        // 0x.. / 0b.. literals; otherwise they are identifiers like `0xyz`.
        if src.get(start) == Some(&b'0') {
            let (radix_ok, kind): (fn(u8) -> bool, _) = match self.at(start + 1) {
                Some(b'x') => (|b| class(b) & C_HEX != 0, TokenKind::HexString),
                Some(b'b') => (|b| b == b'0' || b == b'1', TokenKind::BitString),
                _ => (|_| false, TokenKind::Integer),
            };
            if kind != TokenKind::Integer {
                let mut i = start + 2;
                while src.get(i).is_some_and(|&b| radix_ok(b)) {
                    i += 1;
                }
                let end = self.scan_ident(i);
                if i > start + 2 && end == i {
                    return self.tok(kind, start, i);
                }
                return self.tok(TokenKind::Ident, start, end);
            }
        }
        let mut i = digits(start);
        let mut kind = TokenKind::Integer;
        if self.at(i) == Some(b'.') {
            kind = TokenKind::Decimal;
            i = digits(i + 1);
        } else if self.at(i).is_some_and(|b| class(b) & C_IDENT != 0) && !self.exponent_at(i) {
            // `123abc` is an identifier in MySQL.
            let end = self.scan_ident(i);
            return self.tok(TokenKind::Ident, start, end);
        }
        if self.exponent_at(i) {
            kind = TokenKind::Float;
            let sign = matches!(self.at(i + 1), Some(b'+' | b'-'));
            i = digits(i + 1 + usize::from(sign));
        }
        self.tok(kind, start, i)
    }

    #[inline]
    fn exponent_at(&self, i: usize) -> bool {
        if !matches!(self.at(i), Some(b'e' | b'E')) {
            return false;
        }
        let d = match self.at(i + 1) {
            Some(b'+' | b'-') => self.at(i + 2),
            b => b,
        };
        d.is_some_and(|b| class(b) & C_DIGIT != 0)
    }

    fn word(&mut self, start: usize) -> Token {
        let end = self.scan_ident(start);
        let text = &self.src[start..end];
        let after_dot = matches!(self.prev, Some((TokenKind::Dot, e)) if e == start);
        let kind = match Kw::lookup(text) {
            Some(k) if !after_dot => TokenKind::Keyword(k),
            _ if text.first() == Some(&b'_') && self.is_introducer(text, end) => {
                TokenKind::Introducer
            }
            _ => TokenKind::Ident,
        };
        self.tok(kind, start, end)
    }

    fn is_introducer(&self, text: &[u8], end: usize) -> bool {
        let name = &text[1..];
        if !CHARSETS.iter().any(|c| c.eq_ignore_ascii_case(name)) {
            return false;
        }
        let mut i = end;
        while self.at(i).is_some_and(|b| class(b) & C_SPACE != 0) {
            i += 1;
        }
        match self.at(i) {
            Some(b'\'') => true,
            Some(b'"') => !self.opts.ansi_quotes,
            Some(b'x' | b'X' | b'b' | b'B') => self.at(i + 1) == Some(b'\''),
            Some(b'0') => matches!(self.at(i + 1), Some(b'x' | b'b')),
            _ => false,
        }
    }

    /// `@...` at `start`: user variable, system variable, or a user@host `@`.
    fn at_sign(&mut self, start: usize) -> Token {
        if self.glued_to_name(start) {
            return self.tok(TokenKind::At, start, start + 1);
        }
        if self.at(start + 1) == Some(b'@') {
            // @@[scope.]name[.name]...
            let mut i = start + 2;
            loop {
                let part_end = match self.at(i) {
                    Some(b'`') => match self.scan_quoted(i, b'`') {
                        Some(e) => e,
                        None => return self.error(LexError::UnterminatedQuotedIdent, start),
                    },
                    _ => self.scan_ident(i),
                };
                if part_end == i {
                    break;
                }
                i = part_end;
                let next_is_part = self
                    .at(i + 1)
                    .is_some_and(|b| b == b'`' || class(b) & C_IDENT != 0);
                if self.at(i) == Some(b'.') && next_is_part {
                    i += 1;
                } else {
                    break;
                }
            }
            if i == start + 2 {
                return self.tok(TokenKind::Unknown, start, start + 2);
            }
            return self.tok(TokenKind::SysVar, start, i);
        }
        match self.at(start + 1) {
            Some(q @ (b'\'' | b'"' | b'`')) => match self.scan_quoted(start + 1, q) {
                Some(end) => self.tok(TokenKind::UserVar, start, end),
                None if q == b'`' => self.error(LexError::UnterminatedQuotedIdent, start),
                None => self.error(LexError::UnterminatedString, start),
            },
            Some(b) if class(b) & C_IDENT != 0 || b == b'.' => {
                let mut i = start + 1;
                loop {
                    i = self.scan_ident(i);
                    if self.at(i) == Some(b'.') {
                        i += 1;
                    } else {
                        break;
                    }
                }
                self.tok(TokenKind::UserVar, start, i)
            }
            _ => self.tok(TokenKind::At, start, start + 1),
        }
    }

    /// Skips `/* ... */` starting at `start`; false if unterminated.
    fn skip_block_comment(&mut self, start: usize) -> Option<usize> {
        find2(self.src, start + 2, b'*', b'/').map(|e| e + 2)
    }

    fn next_token(&mut self) -> Option<Token> {
        if self.done {
            return None;
        }
        let src = self.src;
        loop {
            let mut i = self.pos;
            while src.get(i).is_some_and(|&b| class(b) & C_SPACE != 0) {
                i += 1;
            }
            self.pos = i;
            let Some(&b) = src.get(i) else {
                self.done = true;
                if let Some(start) = self.exec_comment.take() {
                    self.prev = None;
                    return Some(Token {
                        kind: TokenKind::Error(LexError::UnterminatedComment),
                        start,
                        end: src.len(),
                    });
                }
                return None;
            };
            let b1 = self.at(i + 1);
            let t = match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'_' | b'$' | 0x80..=0xFF => {
                    if b1 == Some(b'\'') {
                        match b {
                            b'x' | b'X' => {
                                return Some(self.string_or_error(i, b'\'', TokenKind::HexString))
                            }
                            b'b' | b'B' => {
                                return Some(self.string_or_error(i, b'\'', TokenKind::BitString))
                            }
                            b'n' | b'N' => {
                                return Some(self.string_or_error(i, b'\'', TokenKind::String))
                            }
                            _ => {}
                        }
                    }
                    self.word(i)
                }
                b'0'..=b'9' => self.number(i),
                b'\'' => self.string_or_error(i, b'\'', TokenKind::String),
                b'"' if self.opts.ansi_quotes => {
                    self.string_or_error(i, b'"', TokenKind::QuotedIdent)
                }
                b'"' => self.string_or_error(i, b'"', TokenKind::String),
                b'`' => self.string_or_error(i, b'`', TokenKind::QuotedIdent),
                b'@' => self.at_sign(i),
                b'#' => {
                    self.pos = find1(src, i, b'\n').map_or(src.len(), |e| e + 1);
                    continue;
                }
                b'-' if b1 == Some(b'-')
                    && self.at(i + 2).is_none_or(|c| c <= b' ' || c == 0x7F) =>
                {
                    self.pos = find1(src, i, b'\n').map_or(src.len(), |e| e + 1);
                    continue;
                }
                b'/' if b1 == Some(b'*') => match self.at(i + 2) {
                    Some(b'!') => {
                        self.open_exec_comment(i, i + 3);
                        continue;
                    }
                    Some(b'M') if self.at(i + 3) == Some(b'!') => {
                        self.open_exec_comment(i, i + 4);
                        continue;
                    }
                    Some(b'+') => match self.skip_block_comment(i) {
                        Some(end) => self.tok(TokenKind::Hint, i, end),
                        None => self.error(LexError::UnterminatedComment, i),
                    },
                    _ => match self.skip_block_comment(i) {
                        Some(end) => {
                            self.pos = end;
                            continue;
                        }
                        None => self.error(LexError::UnterminatedComment, i),
                    },
                },
                b'*' if b1 == Some(b'/') && self.exec_comment.is_some() => {
                    self.exec_comment = None;
                    self.pos = i + 2;
                    continue;
                }
                b'.' => {
                    if !self.glued_to_name(i) && b1.is_some_and(|c| class(c) & C_DIGIT != 0) {
                        self.number(i)
                    } else {
                        self.tok(TokenKind::Dot, i, i + 1)
                    }
                }
                b'(' => self.tok(TokenKind::LParen, i, i + 1),
                b')' => self.tok(TokenKind::RParen, i, i + 1),
                b',' => self.tok(TokenKind::Comma, i, i + 1),
                b';' => self.tok(TokenKind::Semicolon, i, i + 1),
                b'?' => self.tok(TokenKind::Placeholder, i, i + 1),
                _ => self.operator(i, b, b1),
            };
            return Some(t);
        }
    }

    /// `/*!` or `/*M!` at `start`, content from `body` after an optional
    /// 5- or 6-digit version.
    fn open_exec_comment(&mut self, start: usize, body: usize) {
        let mut i = body;
        while self.at(i).is_some_and(|b| class(b) & C_DIGIT != 0) && i - body < 6 {
            i += 1;
        }
        self.pos = if i - body >= 5 { i } else { body };
        self.exec_comment = Some(start);
    }

    fn operator(&mut self, i: usize, b: u8, b1: Option<u8>) -> Token {
        use Op::*;
        let b2 = self.at(i + 2);
        let (op, len) = match (b, b1) {
            (b'<', Some(b'=')) if b2 == Some(b'>') => (NullSafeEq, 3),
            (b'<', Some(b'=')) => (Le, 2),
            (b'<', Some(b'>')) => (Ne, 2),
            (b'<', Some(b'<')) => (Shl, 2),
            (b'<', _) => (Lt, 1),
            (b'>', Some(b'=')) => (Ge, 2),
            (b'>', Some(b'>')) => (Shr, 2),
            (b'>', _) => (Gt, 1),
            (b'!', Some(b'=')) => (Ne, 2),
            (b'!', _) => (Bang, 1),
            (b'=', _) => (Eq, 1),
            (b':', Some(b'=')) => (Assign, 2),
            (b':', _) => (Colon, 1),
            (b'-', Some(b'>')) if b2 == Some(b'>') => (LongArrow, 3),
            (b'-', Some(b'>')) => (Arrow, 2),
            (b'-', _) => (Minus, 1),
            (b'+', _) => (Plus, 1),
            (b'*', _) => (Star, 1),
            (b'/', _) => (Slash, 1),
            (b'%', _) => (Percent, 1),
            (b'^', _) => (Caret, 1),
            (b'&', Some(b'&')) => (AndAnd, 2),
            (b'&', _) => (Amp, 1),
            (b'|', Some(b'|')) => (OrOr, 2),
            (b'|', _) => (Pipe, 1),
            (b'~', _) => (Tilde, 1),
            _ => return self.tok(TokenKind::Unknown, i, i + 1),
        };
        self.tok(TokenKind::Op(op), i, i + len)
    }
}

impl Iterator for Lexer<'_> {
    type Item = Token;

    #[inline]
    fn next(&mut self) -> Option<Token> {
        self.next_token()
    }
}

impl std::iter::FusedIterator for Lexer<'_> {}

/// The number of `?` placeholders in `src` (those in strings, comments and
/// quoted names do not count).
pub fn count_placeholders(src: &[u8], opts: LexOptions) -> usize {
    Lexer::new(src, opts)
        .filter(|t| t.kind == TokenKind::Placeholder)
        .count()
}

/// Tokenizes all of `src` into a new vector (off the hot path: allocates).
pub fn tokenize(src: &[u8], opts: LexOptions) -> Vec<Token> {
    Lexer::new(src, opts).collect()
}

/// Tokenizes all of `src` into `out` (cleared first), for callers that want
/// random access and reuse one vector across queries.
pub fn tokenize_into(src: &[u8], opts: LexOptions, out: &mut Vec<Token>) {
    out.clear();
    out.extend(Lexer::new(src, opts));
}

#[inline]
fn find1(s: &[u8], from: usize, a: u8) -> Option<usize> {
    s.get(from..)?
        .iter()
        .position(|&b| b == a)
        .map(|p| p + from)
}

#[inline]
fn find2(s: &[u8], from: usize, a: u8, b: u8) -> Option<usize> {
    s.get(from..)?
        .windows(2)
        .position(|w| w[0] == a && w[1] == b)
        .map(|p| p + from)
}

// ---------------------------------------------------------------------------
// Literal values

/// The name a word token stands for: backquotes (or ANSI double quotes)
/// removed and doubled quotes undone. Unquoted words come back as they are.
pub fn unquote_ident(text: &[u8]) -> Cow<'_, [u8]> {
    match (text.first(), text.last()) {
        (Some(&q @ (b'`' | b'"')), Some(&l)) if l == q && text.len() >= 2 => {
            let inner = &text[1..text.len() - 1];
            if inner.contains(&q) {
                let mut v = Vec::with_capacity(inner.len());
                let mut i = 0;
                while let Some(&b) = inner.get(i) {
                    v.push(b);
                    i += if b == q && inner.get(i + 1) == Some(&q) {
                        2
                    } else {
                        1
                    };
                }
                Cow::Owned(v)
            } else {
                Cow::Borrowed(inner)
            }
        }
        _ => Cow::Borrowed(text),
    }
}

/// The value of a string literal token (`'..'`, `".."`, `N'..'`): quotes
/// removed, doubled quotes and (if enabled) backslash escapes undone, as
/// MySQL does. `\%` and `\_` keep their backslash (they matter to LIKE).
/// <https://dev.mysql.com/doc/refman/8.0/en/string-literals.html>
pub fn string_value(text: &[u8], opts: LexOptions) -> Cow<'_, [u8]> {
    let text = match text.first() {
        Some(b'n' | b'N') => &text[1..],
        _ => text,
    };
    let (Some(&q), Some(&l)) = (text.first(), text.last()) else {
        return Cow::Borrowed(text);
    };
    if !(q == b'\'' || q == b'"') || l != q || text.len() < 2 {
        return Cow::Borrowed(text);
    }
    let inner = &text[1..text.len() - 1];
    if !inner
        .iter()
        .any(|&b| b == q || (b == b'\\' && opts.backslash_escapes))
    {
        return Cow::Borrowed(inner);
    }
    let mut v = Vec::with_capacity(inner.len());
    let mut i = 0;
    while let Some(&b) = inner.get(i) {
        if b >= 0x80 {
            let n = opts.charset.char_len(b, inner.get(i + 1).copied());
            v.extend_from_slice(&inner[i..(i + n).min(inner.len())]);
            i += n;
        } else if b == q && inner.get(i + 1) == Some(&q) {
            v.push(q);
            i += 2;
        } else if b == b'\\' && opts.backslash_escapes {
            match inner.get(i + 1) {
                Some(&e) => {
                    match e {
                        b'0' => v.push(0),
                        b'b' => v.push(8),
                        b'n' => v.push(b'\n'),
                        b'r' => v.push(b'\r'),
                        b't' => v.push(b'\t'),
                        b'Z' => v.push(0x1A),
                        b'%' | b'_' => v.extend_from_slice(&[b'\\', e]),
                        _ => v.push(e),
                    }
                    i += 2;
                }
                None => {
                    v.push(b);
                    i += 1;
                }
            }
        } else {
            v.push(b);
            i += 1;
        }
    }
    Cow::Owned(v)
}

#[cfg(test)]
mod tests;
