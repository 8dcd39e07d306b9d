//! Unit tests of `lexer`.

use super::*;
use TokenKind as K;

fn lex_with(src: &str, opts: LexOptions) -> Vec<(TokenKind, String)> {
    Lexer::new(src.as_bytes(), opts)
        .map(|t| {
            (
                t.kind,
                String::from_utf8_lossy(t.text(src.as_bytes())).into_owned(),
            )
        })
        .collect()
}

fn lex(src: &str) -> Vec<(TokenKind, String)> {
    lex_with(src, LexOptions::default())
}

fn kinds(src: &str) -> Vec<TokenKind> {
    lex(src).into_iter().map(|(k, _)| k).collect()
}

fn one(src: &str) -> (TokenKind, String) {
    let v = lex(src);
    assert_eq!(v.len(), 1, "{src:?} -> {v:?}");
    v.into_iter().next().unwrap()
}

#[test]
fn keywords_case_insensitive_and_all_round_trip() {
    for &k in ALL_KEYWORDS {
        let s = k.as_str();
        assert_eq!(Kw::lookup(s.as_bytes()), Some(k), "{s}");
        assert_eq!(Kw::lookup(s.to_ascii_uppercase().as_bytes()), Some(k));
    }
    assert_eq!(one("SeLeCt").0, K::Keyword(Kw::Select));
    assert_eq!(
        one("SQL_CALC_FOUND_ROWS").0,
        K::Keyword(Kw::SqlCalcFoundRows)
    );
    assert_eq!(one("selects").0, K::Ident);
    assert_eq!(one("sel").0, K::Ident);
    assert_eq!(Kw::lookup(b""), None);
    assert_eq!(Kw::lookup("séléct".as_bytes()), None);
}

#[test]
fn identifiers() {
    assert_eq!(one("abc_$1"), (K::Ident, "abc_$1".into()));
    assert_eq!(one("$x"), (K::Ident, "$x".into()));
    assert_eq!(one("1abc"), (K::Ident, "1abc".into()));
    assert_eq!(one("0xyz"), (K::Ident, "0xyz".into()));
    assert_eq!(one("0x"), (K::Ident, "0x".into()));
    assert_eq!(one("表名"), (K::Ident, "表名".into()));
    assert_eq!(one("`a``b`"), (K::QuotedIdent, "`a``b`".into()));
    assert_eq!(one("`sel ect`"), (K::QuotedIdent, "`sel ect`".into()));
    assert_eq!(unquote_ident(b"`a``b`").as_ref(), b"a`b");
    assert_eq!(unquote_ident(b"`ab`").as_ref(), b"ab");
    assert_eq!(unquote_ident(b"ab").as_ref(), b"ab");
    assert_eq!(unquote_ident(b"`").as_ref(), b"`");
    // A keyword after a dot is a name.
    assert_eq!(
        kinds("t.select"),
        vec![K::Ident, K::Dot, K::Ident],
        "keyword after dot"
    );
    assert_eq!(kinds("t.`x`"), vec![K::Ident, K::Dot, K::QuotedIdent]);
}

#[test]
fn strings_and_escapes() {
    assert_eq!(one("'a''b'"), (K::String, "'a''b'".into()));
    assert_eq!(one(r"'a\'b'"), (K::String, r"'a\'b'".into()));
    assert_eq!(one(r#""a\"b""#), (K::String, r#""a\"b""#.into()));
    assert_eq!(one("\"a\"\"b\""), (K::String, "\"a\"\"b\"".into()));
    assert_eq!(one("N'x'"), (K::String, "N'x'".into()));
    let o = LexOptions::default();
    assert_eq!(string_value(b"'a''b'", o).as_ref(), b"a'b");
    assert_eq!(string_value(br"'a\nb\\c\%'", o).as_ref(), b"a\nb\\c\\%");
    assert_eq!(string_value(br"'\0\Z\q'", o).as_ref(), b"\0\x1aq");
    assert_eq!(string_value(b"'plain'", o).as_ref(), b"plain");
    assert_eq!(string_value(b"N'nat'", o).as_ref(), b"nat");
    // NO_BACKSLASH_ESCAPES: `\` is an ordinary character.
    let nb = LexOptions {
        backslash_escapes: false,
        ..o
    };
    assert_eq!(
        lex_with(r"'a\' , 'b'", nb),
        vec![
            (K::String, r"'a\'".into()),
            (K::Comma, ",".into()),
            (K::String, "'b'".into())
        ]
    );
    assert_eq!(string_value(br"'a\n'", nb).as_ref(), br"a\n");
    assert_eq!(
        lex(r"'a\' , 'c'"),
        vec![
            (K::String, r"'a\' , '".into()),
            (K::Ident, "c".into()),
            (K::Error(LexError::UnterminatedString), "'".into())
        ]
    );
    // ANSI_QUOTES: "x" is an identifier.
    let ansi = LexOptions {
        ansi_quotes: true,
        ..o
    };
    assert_eq!(
        lex_with("\"a\"", ansi),
        vec![(K::QuotedIdent, "\"a\"".into())]
    );
    assert_eq!(unquote_ident(b"\"a\"\"b\"").as_ref(), b"a\"b");
}

#[test]
fn introducers_and_binary_literals() {
    assert_eq!(
        kinds("_utf8mb4'abc' _latin1 X'41' _binary 0x41"),
        vec![
            K::Introducer,
            K::String,
            K::Introducer,
            K::HexString,
            K::Introducer,
            K::HexString
        ]
    );
    // Not a charset, or no literal after it: plain identifiers.
    assert_eq!(kinds("_foo'x'"), vec![K::Ident, K::String]);
    assert_eq!(
        kinds("_utf8mb4 + 1"),
        vec![K::Ident, K::Op(Op::Plus), K::Integer]
    );
    assert_eq!(one("x'4142'"), (K::HexString, "x'4142'".into()));
    assert_eq!(one("0x4142"), (K::HexString, "0x4142".into()));
    assert_eq!(one("0X41").0, K::Ident); // only lowercase 0x is hex
    assert_eq!(one("b'0101'"), (K::BitString, "b'0101'".into()));
    assert_eq!(one("0b0101"), (K::BitString, "0b0101".into()));
    assert_eq!(one("0b012").0, K::Ident);
    assert_eq!(one("X'41").0, K::Error(LexError::UnterminatedString));
}

#[test]
fn numbers() {
    assert_eq!(one("42"), (K::Integer, "42".into()));
    assert_eq!(one("4.2"), (K::Decimal, "4.2".into()));
    assert_eq!(one("4."), (K::Decimal, "4.".into()));
    assert_eq!(one(".5"), (K::Decimal, ".5".into()));
    assert_eq!(one("1e10"), (K::Float, "1e10".into()));
    assert_eq!(one("1.5E-3"), (K::Float, "1.5E-3".into()));
    assert_eq!(one("2e+7"), (K::Float, "2e+7".into()));
    assert_eq!(one("1e").0, K::Ident);
    assert_eq!(kinds("1-1"), vec![K::Integer, K::Op(Op::Minus), K::Integer]);
    assert_eq!(
        kinds("1--1"),
        vec![K::Integer, K::Op(Op::Minus), K::Op(Op::Minus), K::Integer]
    );
    assert_eq!(kinds("t.5"), vec![K::Ident, K::Dot, K::Integer]);
    assert_eq!(kinds("id=42"), vec![K::Ident, K::Op(Op::Eq), K::Integer]);
}

#[test]
fn variables_and_placeholders() {
    assert_eq!(one("@a.b_$"), (K::UserVar, "@a.b_$".into()));
    assert_eq!(one("@'my var'"), (K::UserVar, "@'my var'".into()));
    assert_eq!(one("@`v`"), (K::UserVar, "@`v`".into()));
    assert_eq!(one("@\"v\""), (K::UserVar, "@\"v\"".into()));
    assert_eq!(one("@@autocommit"), (K::SysVar, "@@autocommit".into()));
    assert_eq!(
        one("@@SESSION.sql_mode"),
        (K::SysVar, "@@SESSION.sql_mode".into())
    );
    assert_eq!(one("@@global.validate_password.length").0, K::SysVar);
    assert_eq!(one("@@`version`").0, K::SysVar);
    assert_eq!(kinds("@@x."), vec![K::SysVar, K::Dot]);
    assert_eq!(one("?"), (K::Placeholder, "?".into()));
    // user@host in account names
    assert_eq!(kinds("'u'@'h'"), vec![K::String, K::At, K::String]);
    assert_eq!(kinds("root@localhost"), vec![K::Ident, K::At, K::Ident]);
    assert_eq!(
        kinds("`u`@`h`"),
        vec![K::QuotedIdent, K::At, K::QuotedIdent]
    );
    assert_eq!(kinds("x = @a"), vec![K::Ident, K::Op(Op::Eq), K::UserVar]);
    assert_eq!(kinds("@"), vec![K::At]);
    assert_eq!(kinds("@@"), vec![K::Unknown]);
    assert_eq!(one("@'x").0, K::Error(LexError::UnterminatedString));
}

#[test]
fn operators_and_punctuation() {
    use Op::*;
    let ops = "= <=> <> != < <= > >= := + - * / % ^ & | ~ ! << >> && || -> ->> :";
    let want = [
        Eq, NullSafeEq, Ne, Ne, Lt, Le, Gt, Ge, Assign, Plus, Minus, Star, Slash, Percent, Caret,
        Amp, Pipe, Tilde, Bang, Shl, Shr, AndAnd, OrOr, Arrow, LongArrow, Colon,
    ];
    let got: Vec<_> = kinds(ops);
    assert_eq!(got, want.iter().map(|&o| K::Op(o)).collect::<Vec<_>>());
    assert_eq!(
        kinds("( ) , ; . { \\"),
        vec![
            K::LParen,
            K::RParen,
            K::Comma,
            K::Semicolon,
            K::Dot,
            K::Unknown,
            K::Unknown
        ]
    );
    assert_eq!(
        kinds("c->>'$.a'"),
        vec![K::Ident, K::Op(LongArrow), K::String]
    );
}

#[test]
fn comments() {
    assert_eq!(kinds("1 -- c\n2"), vec![K::Integer, K::Integer]);
    assert_eq!(kinds("1 --\t c\n2"), vec![K::Integer, K::Integer]);
    assert_eq!(kinds("1 --"), vec![K::Integer]);
    assert_eq!(kinds("1 # c\n2"), vec![K::Integer, K::Integer]);
    assert_eq!(kinds("1 # c"), vec![K::Integer]);
    assert_eq!(kinds("1 /* c ; ' */ 2"), vec![K::Integer, K::Integer]);
    assert_eq!(kinds("1/**/2"), vec![K::Integer, K::Integer]);
    assert_eq!(kinds("/*/ x */1"), vec![K::Integer]);
    assert_eq!(
        kinds("1 /* x"),
        vec![K::Integer, K::Error(LexError::UnterminatedComment)]
    );
    assert_eq!(
        kinds("'#' '--' '/*'"),
        vec![K::String, K::String, K::String]
    );
}

#[test]
fn executable_comments_are_sql() {
    let v = lex("SELECT /*!40101 SQL_NO_CACHE */ 1");
    assert_eq!(v.len(), 3);
    assert_eq!(v[1], (K::Ident, "SQL_NO_CACHE".into()));
    assert_eq!(
        kinds("/*! STRAIGHT_JOIN */"),
        vec![K::Keyword(Kw::StraightJoin)]
    );
    assert_eq!(kinds("/*!100101 1*/"), vec![K::Integer]);
    assert_eq!(kinds("/*M!100101 1 */ 2"), vec![K::Integer, K::Integer]);
    assert_eq!(kinds("/*!123 */"), vec![K::Integer]);
    assert_eq!(
        kinds("1 * 2 */"),
        vec![
            K::Integer,
            K::Op(Op::Star),
            K::Integer,
            K::Op(Op::Star),
            K::Op(Op::Slash)
        ]
    );
    assert_eq!(
        kinds("/*!40101 SET x=1"),
        vec![
            K::Keyword(Kw::Set),
            K::Ident,
            K::Op(Op::Eq),
            K::Integer,
            K::Error(LexError::UnterminatedComment)
        ]
    );
}

#[test]
fn hints() {
    let src = "SELECT /*+ shardgate: key=123 */ 1";
    let v = lex(src);
    assert_eq!(v[1], (K::Hint, "/*+ shardgate: key=123 */".into()));
    assert_eq!(
        kinds("/*+ x"),
        vec![K::Error(LexError::UnterminatedComment)]
    );
}

#[test]
fn unterminated_input() {
    for (src, e) in [
        ("'abc", LexError::UnterminatedString),
        ("\"abc", LexError::UnterminatedString),
        ("'abc\\'", LexError::UnterminatedString),
        ("`abc", LexError::UnterminatedQuotedIdent),
        ("@@`x", LexError::UnterminatedQuotedIdent),
        ("/* abc", LexError::UnterminatedComment),
        ("/*", LexError::UnterminatedComment),
        ("/*! abc", LexError::UnterminatedComment),
        ("'\\", LexError::UnterminatedString),
    ] {
        let v = kinds(&format!("SELECT {src}"));
        assert_eq!(v.last(), Some(&K::Error(e)), "{src}");
        assert_eq!(v.iter().filter(|k| matches!(k, K::Error(_))).count(), 1);
    }
}

#[test]
fn invalid_utf8_and_multibyte_charsets() {
    let src: &[u8] = b"SELECT \xff\xfe FROM t WHERE a='\xc3\x28'";
    let toks: Vec<_> = Lexer::new(src, LexOptions::default()).collect();
    assert_eq!(toks[1].kind, K::Ident);
    assert_eq!(toks[1].text(src), b"\xff\xfe");
    assert_eq!(toks.last().map(|t| t.kind), Some(K::String));
    // GBK 0xBF 0x5C is one character whose second byte is `\`: the
    // string must not treat it as an escape of the closing quote.
    let gbk = LexOptions {
        charset: MbCharset::from_name(b"GBK"),
        ..LexOptions::default()
    };
    let src: &[u8] = b"'\xbf\x5c' OR 1=1";
    let toks: Vec<_> = Lexer::new(src, gbk).collect();
    assert_eq!(toks[0].text(src), b"'\xbf\x5c'");
    assert_eq!(toks[1].kind, K::Keyword(Kw::Or));
    assert_eq!(string_value(b"'\xbf\x5c'", gbk).as_ref(), b"\xbf\x5c");
    // The same bytes as latin1/utf8: the quote is escaped.
    let toks: Vec<_> = Lexer::new(src, LexOptions::default()).collect();
    assert_eq!(toks[0].text(src), b"'\xbf\x5c' OR 1=1");
    assert_eq!(toks[0].kind, K::Error(LexError::UnterminatedString));
    for (name, cs) in [
        ("big5", MbCharset::Big5),
        ("cp932", MbCharset::Sjis),
        ("utf8mb4", MbCharset::AsciiSafe),
    ] {
        assert_eq!(MbCharset::from_name(name.as_bytes()), cs);
    }
    let sjis = LexOptions {
        charset: MbCharset::Sjis,
        ..LexOptions::default()
    };
    let src: &[u8] = b"`\x95\x60` x";
    let toks: Vec<_> = Lexer::new(src, sjis).collect();
    assert_eq!(toks[0].kind, K::QuotedIdent);
    assert_eq!(toks.len(), 2);
}

#[test]
fn ranges_cover_the_source() {
    let src = b"SELECT a.b, 'x' FROM `t` WHERE c <=> ?;";
    let mut prev_end = 0;
    for t in Lexer::new(src, LexOptions::default()) {
        assert!(t.start >= prev_end && t.end > t.start && t.end <= src.len());
        prev_end = t.end;
    }
    assert_eq!(prev_end, src.len());
    let mut v = Vec::new();
    tokenize_into(src, LexOptions::default(), &mut v);
    assert_eq!(v.len(), 13);
}

/// xorshift64*: deterministic pseudo-random bytes without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[test]
fn any_bytes_lex_without_panic() {
    const ALPHABET: &[u8] = b"'\"`\\/*!+-#@?.:;=<>()_xXbBnN0123456789e \n\tM\xbf\x5c\xff";
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let opts = [
        LexOptions::default(),
        LexOptions {
            backslash_escapes: false,
            ansi_quotes: true,
            charset: MbCharset::Gbk,
        },
        LexOptions {
            charset: MbCharset::Sjis,
            ..LexOptions::default()
        },
    ];
    for round in 0..20_000 {
        let len = (rng.next() % 40) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                let r = rng.next();
                if round % 2 == 0 {
                    ALPHABET[(r % ALPHABET.len() as u64) as usize]
                } else {
                    r as u8
                }
            })
            .collect();
        let o = opts[round % opts.len()];
        let mut last_end = 0;
        let mut n = 0;
        for t in Lexer::new(&bytes, o) {
            assert!(t.start <= t.end && t.end <= bytes.len(), "{bytes:?}");
            assert!(
                t.start >= last_end || matches!(t.kind, K::Error(_)),
                "{bytes:?}"
            );
            last_end = t.end;
            n += 1;
            assert!(n <= bytes.len() + 1, "no progress on {bytes:?}");
            let text = t.text(&bytes);
            if t.kind == K::String {
                let _ = string_value(text, o);
            }
            let _ = unquote_ident(text);
        }
    }
}
