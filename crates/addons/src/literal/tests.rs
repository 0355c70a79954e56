use super::*;

fn kind(source: &str) -> ValueKind {
    parse_literal(source)
        .unwrap_or_else(|e| panic!("{source:?}: {e}"))
        .kind
}

fn err(source: &str) -> ManifestError {
    parse_literal(source).expect_err(source)
}

fn s(text: &str) -> ValueKind {
    ValueKind::Str(text.to_owned())
}

fn kinds(value: ValueKind) -> Vec<ValueKind> {
    match value {
        ValueKind::List(items) | ValueKind::Tuple(items) | ValueKind::Set(items) => {
            items.into_iter().map(|v| v.kind).collect()
        }
        other => panic!("not a sequence: {other:?}"),
    }
}

#[test]
fn string_prefixes_and_quotes() {
    assert_eq!(kind(r#"'a'"#), s("a"));
    assert_eq!(kind(r#"u"a""#), s("a"));
    assert_eq!(kind(r#"R'\d'"#), s("\\d"));
    assert_eq!(kind(r#"'''it's'''"#), s("it's"));
    assert_eq!(kind(r#""""say "hi" """"#), s("say \"hi\" "));
    assert_eq!(
        kind(r#"''''a'''"#),
        s("'a"),
        "a quote right after the opening is content"
    );
    assert_eq!(kind("\"\"\"\"\"\""), s(""));
    assert_eq!(kind(r#"rb'\x00'"#), ValueKind::Bytes(b"\\x00".to_vec()));
    assert_eq!(
        kind(r#"r'\''"#),
        s("\\'"),
        "a raw backslash still escapes the quote"
    );
    assert_eq!(err(r#"f'{x}'"#).kind, ErrorKind::Unsupported);
    assert_eq!(err(r#"ur'x'"#).kind, ErrorKind::Syntax);
}

#[test]
fn escape_sequences() {
    assert_eq!(
        kind(r#""\a\b\f\n\r\t\v\\\'\"\0\101\x41\u00e9\U0001F600""#),
        s("\u{7}\u{8}\u{c}\n\r\t\u{b}\\'\"\0AAé😀")
    );
    assert_eq!(kind(r#""\d\ ""#), s("\\d\\ "), "unknown escapes are kept");
    assert_eq!(
        kind("'a\\\nb'"),
        s("ab"),
        "backslash-newline continues the string"
    );
    assert_eq!(
        kind(r#"b"\777\u1234""#),
        ValueKind::Bytes(b"\xff\\u1234".to_vec())
    );
    assert_eq!(err(r#""\x4""#).message, "truncated \\xXX escape");
    assert_eq!(err(r#""\U00110000""#).message, "illegal Unicode character");
    assert_eq!(err(r#""\N{BULLET}""#).kind, ErrorKind::Unsupported);
    assert_eq!(
        err("b'é'").message,
        "bytes can only contain ASCII literal characters"
    );
}

#[test]
fn implicit_concatenation() {
    assert_eq!(
        kind("('a' \"b\"\n  '''c''' # comment\n r'\\d')"),
        s("abc\\d")
    );
    assert_eq!(
        kinds(kind("[b'a' b'b']")),
        [ValueKind::Bytes(b"ab".to_vec())]
    );
    let e = err("('a'\n b'b')");
    assert_eq!((e.line, e.column), (2, 2));
    assert_eq!(e.message, "cannot mix bytes and nonbytes literals");
}

#[test]
fn numbers() {
    assert_eq!(
        kinds(kind("[0, 00, 7, -7, +7, 1_000, 0x_Ff, 0o17, 0B101, -(3)]")),
        [0, 0, 7, -7, 7, 1000, 255, 15, 5, -3].map(ValueKind::Int)
    );
    assert_eq!(
        kinds(kind("[1.5, .5, 5., 1e3, 1E-3, 1_0.0_1, 01.5, -2.5]")),
        [1.5, 0.5, 5.0, 1000.0, 0.001, 10.01, 1.5, -2.5].map(ValueKind::Float)
    );
    assert!(err("01").message.starts_with("leading zeros"));
    assert_eq!(err("1__0").message, "invalid decimal literal");
    assert_eq!(err("1abc").message, "invalid decimal literal");
    assert_eq!(err("0x").message, "invalid hexadecimal literal");
    assert_eq!(err("1j").kind, ErrorKind::Unsupported);
    assert_eq!(err("99999999999999999999").kind, ErrorKind::Unsupported);
    assert_eq!(err("--1").kind, ErrorKind::Unsupported);
    assert_eq!(err("-True").kind, ErrorKind::Unsupported);
    assert_eq!(err("-'a'").kind, ErrorKind::Unsupported);
}

#[test]
fn containers() {
    assert_eq!(kind("()"), ValueKind::Tuple(vec![]));
    assert_eq!(kind("(1)"), ValueKind::Int(1), "parentheses only group");
    assert_eq!(kinds(kind("(1,)")), [ValueKind::Int(1)]);
    assert_eq!(kinds(kind("1, 2,")), [ValueKind::Int(1), ValueKind::Int(2)]);
    assert_eq!(kind("{}"), ValueKind::Dict(vec![]));
    assert_eq!(kind("set()"), ValueKind::Set(vec![]));
    assert_eq!(kinds(kind("{1, (2, 3),}")).len(), 2);
    assert_eq!(kinds(kind("[\n]")), []);
    let ValueKind::Dict(entries) = kind("{(1, 'a'): None, True: False}") else {
        panic!("not a dict")
    };
    assert_eq!(entries.len(), 2);
}

#[test]
fn container_errors() {
    let e = err("{[1]: 2}");
    assert_eq!(
        (e.column, e.message.as_str()),
        (2, "unhashable type 'list' cannot be a dict key")
    );
    assert_eq!(
        err("{(1, {2}): 3}").message,
        "unhashable type 'set' cannot be a dict key"
    );
    assert_eq!(
        err("{{}}").message,
        "unhashable type 'dict' cannot be a set element"
    );
    assert_eq!(err("[1,,2]").message, "expected a value, found ','");
    assert_eq!(
        err("{'a': 1, 'b'}").message,
        "expected ':' after dict key, found '}'"
    );
    assert_eq!(
        err("{'a', 'b': 1}").message,
        "expected ',' or '}' after set element, found ':'"
    );
    let e = err("{\n 'a': [1, 2}\n");
    assert_eq!((e.line, e.column), (2, 12));
    assert_eq!(e.message, "closing '}' does not match '[' opened on line 2");
    let e = err("[\n (1,\n");
    assert_eq!(
        (e.line, e.column, e.message.as_str()),
        (2, 2, "unterminated parenthesis: '(' was never closed")
    );
    assert_eq!(err("{**{'a': 1}}").message, "expected a value, found '*'");
    assert_eq!(err("set([1])").kind, ErrorKind::Unsupported);
    assert_eq!(err("...").kind, ErrorKind::Unsupported);
}

#[test]
fn one_expression_per_file() {
    let e = err("{}\n{}");
    assert_eq!((e.line, e.column), (2, 1));
    assert!(e
        .message
        .starts_with("expected end of file after the literal, found '{'"));
    assert_eq!(err("{};").line, 1);
    assert_eq!(
        err("{} \\").message,
        "unexpected end of file after line continuation character"
    );
    assert_eq!(
        err("[1, \\ 2]").message,
        "unexpected character after line continuation character"
    );
    assert_eq!(
        kinds(kind("[1, \\\n 2]")),
        [ValueKind::Int(1), ValueKind::Int(2)]
    );
    assert_eq!(err("").kind, ErrorKind::Syntax);
    assert_eq!(
        err("{'a': 1}\0").message,
        "source code cannot contain null bytes"
    );
    let e = err("{\n  'a': '\0'}");
    assert_eq!((e.line, e.column), (2, 9), "also inside strings");
    assert!(err("{'a':\u{a0}1}").message.contains("U+00A0"));
}

#[test]
fn deep_nesting_is_refused_not_overflowing() {
    let source = "[".repeat(10_000);
    assert_eq!(err(&source).message, "too many nested brackets");
    let fine = format!("{}{}", "[".repeat(50), "]".repeat(50));
    assert!(parse_literal(&fine).is_ok());
}

#[test]
fn dict_lookup_takes_the_last_duplicate() {
    let value = parse_literal("{'a': 1, 'b': 2, 'a': 3}").unwrap();
    assert_eq!(value.get("a").unwrap().kind, ValueKind::Int(3));
    assert_eq!(value.get("missing"), None);
    assert_eq!(
        value.get("b").unwrap().pos,
        Position {
            line: 1,
            column: 15
        }
    );
}
