//! The segment rule language: tokens, the syntax tree and a parser that reports the exact
//! position of every mistake.
//!
//! ```text
//! rule      := or
//! or        := and ("or" and)*
//! and       := not ("and" not)*
//! not       := "not" not | atom
//! atom      := "(" or ")" | "in_segment" "(" STRING ")" | predicate
//! predicate := FIELD ( CMP value | "in" "[" value ("," value)* "]" | "exists"
//!                    | "contains" STRING | "starts_with" STRING )
//! CMP       := "=" | "!=" | "<" | "<=" | ">" | ">="
//! value     := STRING | NUMBER | "true" | "false" | "now" (("+" | "-") NUMBER UNIT)?
//! UNIT      := "h" | "d" | "w" | "m" (months) | "y"
//! FIELD     := a schema field path such as loyalty.points, or identity.<Namespace>
//! ```
//!
//! Keywords are case-insensitive. Strings use double quotes with `\"` and `\\` escapes.

use std::fmt;

/// Byte offsets `start..end` into the rule text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    fn to(self, other: Span) -> Span {
        Span {
            start: self.start,
            end: other.end,
        }
    }
}

/// A mistake in a rule, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub message: String,
    pub span: Span,
    /// 1-based line and column (in characters) of the start of the span.
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for RuleError {}

/// Builds a [`RuleError`] at `span` of `source`.
pub fn error_at(source: &str, span: Span, message: impl Into<String>) -> RuleError {
    let before = &source[..span.start.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    RuleError {
        message: message.into(),
        span,
        line,
        column,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CompareOp {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
        }
    }
}

/// A unit of a relative date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Hours,
    Days,
    Weeks,
    Months,
    Years,
}

/// A literal on the right of a predicate.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Text(String),
    Number(f64),
    Bool(bool),
    /// `now`, or `now + 3d` / `now - 30y` (amount is signed).
    Now {
        amount: i64,
        unit: Unit,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub literal: Literal,
    pub span: Span,
}

/// A field or identity path as written, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRef {
    pub path: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    Compare(CompareOp, Value),
    In(Vec<Value>),
    Exists,
    Contains(Value),
    StartsWith(Value),
}

/// The syntax tree of a rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Predicate {
        field: FieldRef,
        test: Test,
        span: Span,
    },
    InSegment {
        name: String,
        span: Span,
    },
}

impl Expr {
    /// The names of the segments this rule refers to, in order of appearance.
    pub fn segment_refs(&self) -> Vec<(&str, Span)> {
        let mut out = Vec::new();
        self.walk(&mut |e| {
            if let Expr::InSegment { name, span } = e {
                out.push((name.as_str(), *span));
            }
        });
        out
    }

    /// The field paths this rule reads (identities as `identity.<Namespace>`), in order.
    pub fn field_refs(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.walk(&mut |e| {
            if let Expr::Predicate { field, .. } = e {
                out.push(field.path.as_str());
            }
        });
        out
    }

    fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Expr)) {
        f(self);
        match self {
            Expr::And(items) | Expr::Or(items) => items.iter().for_each(|e| e.walk(f)),
            Expr::Not(inner) => inner.walk(f),
            Expr::Predicate { .. } | Expr::InSegment { .. } => {}
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Op(CompareOp),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Plus,
    Minus,
    End,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Ident(name) => format!("'{name}'"),
            Tok::Str(_) => "a text value".into(),
            Tok::Num(_) => "a number".into(),
            Tok::Op(op) => format!("'{}'", op.as_str()),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::LBracket => "'['".into(),
            Tok::RBracket => "']'".into(),
            Tok::Comma => "','".into(),
            Tok::Plus => "'+'".into(),
            Tok::Minus => "'-'".into(),
            Tok::End => "the end of the rule".into(),
        }
    }
}

/// The longest rule accepted, in bytes.
pub const MAX_RULE_BYTES: usize = 10_000;
/// The deepest nesting of parentheses and `not` accepted.
const MAX_DEPTH: usize = 64;

fn lex(source: &str) -> Result<Vec<(Tok, Span)>, RuleError> {
    let bytes = source.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = source[i..].chars().next().expect("inside the string");
        let start = i;
        if c.is_whitespace() {
            i += c.len_utf8();
            continue;
        }
        let single = |tok| {
            (
                tok,
                Span {
                    start,
                    end: start + 1,
                },
            )
        };
        match c {
            '(' => tokens.push(single(Tok::LParen)),
            ')' => tokens.push(single(Tok::RParen)),
            '[' => tokens.push(single(Tok::LBracket)),
            ']' => tokens.push(single(Tok::RBracket)),
            ',' => tokens.push(single(Tok::Comma)),
            '+' => tokens.push(single(Tok::Plus)),
            // A minus before a digit starts a negative number, except after a word such as
            // `now`, where it subtracts.
            '-' if !bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
                || matches!(tokens.last(), Some((Tok::Ident(_), _))) =>
            {
                tokens.push(single(Tok::Minus));
            }
            '=' => {
                let end = if bytes.get(i + 1) == Some(&b'=') {
                    i + 2
                } else {
                    i + 1
                };
                tokens.push((Tok::Op(CompareOp::Eq), Span { start, end }));
                i = end;
                continue;
            }
            '!' | '<' | '>' => {
                let eq = bytes.get(i + 1) == Some(&b'=');
                let op = match (c, eq) {
                    ('!', true) => CompareOp::Ne,
                    ('<', false) => CompareOp::Lt,
                    ('<', true) => CompareOp::Le,
                    ('>', false) => CompareOp::Gt,
                    ('>', true) => CompareOp::Ge,
                    _ => {
                        return Err(error_at(
                            source,
                            Span {
                                start,
                                end: start + 1,
                            },
                            "'!' must be followed by '=' (write not for negation)",
                        ));
                    }
                };
                let end = i + 1 + usize::from(eq);
                tokens.push((Tok::Op(op), Span { start, end }));
                i = end;
                continue;
            }
            '"' => {
                let mut text = String::new();
                let mut j = i + 1;
                loop {
                    let Some(ch) = source[j..].chars().next() else {
                        return Err(error_at(
                            source,
                            Span {
                                start,
                                end: source.len(),
                            },
                            "this text value is missing its closing quote",
                        ));
                    };
                    match ch {
                        '"' => {
                            j += 1;
                            break;
                        }
                        '\\' => {
                            let next = source[j + 1..].chars().next();
                            match next {
                                Some(e @ ('"' | '\\')) => {
                                    text.push(e);
                                    j += 2;
                                }
                                _ => {
                                    return Err(error_at(
                                        source,
                                        Span {
                                            start: j,
                                            end: j + 1,
                                        },
                                        "only \\\" and \\\\ may follow a backslash",
                                    ));
                                }
                            }
                        }
                        other => {
                            text.push(other);
                            j += other.len_utf8();
                        }
                    }
                }
                tokens.push((Tok::Str(text), Span { start, end: j }));
                i = j;
                continue;
            }
            c if c.is_ascii_digit() || c == '-' => {
                let mut j = i + 1;
                while j < bytes.len() && (bytes[j].is_ascii_digit() || bytes[j] == b'.') {
                    j += 1;
                }
                let span = Span { start, end: j };
                let number: f64 = source[i..j].parse().map_err(|_| {
                    error_at(source, span, format!("{:?} is not a number", &source[i..j]))
                })?;
                tokens.push((Tok::Num(number), span));
                i = j;
                continue;
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut j = i + 1;
                while j < bytes.len()
                    && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_' || bytes[j] == b'.')
                {
                    j += 1;
                }
                tokens.push((Tok::Ident(source[i..j].to_owned()), Span { start, end: j }));
                i = j;
                continue;
            }
            other => {
                return Err(error_at(
                    source,
                    Span {
                        start,
                        end: start + other.len_utf8(),
                    },
                    format!("unexpected character {other:?}"),
                ));
            }
        }
        i += 1;
    }
    tokens.push((
        Tok::End,
        Span {
            start: source.len(),
            end: source.len(),
        },
    ));
    Ok(tokens)
}

struct Parser<'a> {
    source: &'a str,
    tokens: Vec<(Tok, Span)>,
    pos: usize,
    depth: usize,
}

fn keyword(tok: &Tok, word: &str) -> bool {
    matches!(tok, Tok::Ident(name) if name.eq_ignore_ascii_case(word))
}

const KEYWORDS: [&str; 10] = [
    "and",
    "or",
    "not",
    "in",
    "exists",
    "contains",
    "starts_with",
    "true",
    "false",
    "now",
];

impl Parser<'_> {
    fn peek(&self) -> &(Tok, Span) {
        &self.tokens[self.pos]
    }

    fn next(&mut self) -> (Tok, Span) {
        let t = self.tokens[self.pos].clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn fail<T>(&self, span: Span, message: impl Into<String>) -> Result<T, RuleError> {
        Err(error_at(self.source, span, message))
    }

    fn expected<T>(&self, what: &str) -> Result<T, RuleError> {
        let (tok, span) = self.peek();
        self.fail(*span, format!("expected {what}, found {}", tok.describe()))
    }

    fn or(&mut self) -> Result<Expr, RuleError> {
        let mut items = vec![self.and()?];
        while keyword(&self.peek().0, "or") {
            self.next();
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self) -> Result<Expr, RuleError> {
        let mut items = vec![self.not()?];
        while keyword(&self.peek().0, "and") {
            self.next();
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn not(&mut self) -> Result<Expr, RuleError> {
        if keyword(&self.peek().0, "not") {
            let (_, span) = self.next();
            self.descend(span)?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.atom()
    }

    fn descend(&mut self, span: Span) -> Result<(), RuleError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.fail(span, format!("rules nest at most {MAX_DEPTH} levels deep"));
        }
        Ok(())
    }

    fn atom(&mut self) -> Result<Expr, RuleError> {
        let (tok, span) = self.peek().clone();
        match tok {
            Tok::LParen => {
                self.next();
                self.descend(span)?;
                let inner = self.or()?;
                self.depth -= 1;
                if self.peek().0 != Tok::RParen {
                    let open = error_at(self.source, span, "");
                    let (tok, at) = self.peek();
                    return self.fail(
                        *at,
                        format!(
                            "expected ')' to close the '(' at column {}, found {}",
                            open.column,
                            tok.describe()
                        ),
                    );
                }
                self.next();
                Ok(inner)
            }
            Tok::Ident(ref name) if name.eq_ignore_ascii_case("in_segment") => {
                self.next();
                if self.peek().0 != Tok::LParen {
                    return self.expected("'(' after in_segment");
                }
                self.next();
                let (name_tok, name_span) = self.next();
                let Tok::Str(segment) = name_tok else {
                    return self.fail(name_span, "expected a segment name in double quotes");
                };
                if self.peek().0 != Tok::RParen {
                    return self.expected("')' after the segment name");
                }
                let (_, close) = self.next();
                Ok(Expr::InSegment {
                    name: segment,
                    span: span.to(close),
                })
            }
            Tok::Ident(name) => {
                if KEYWORDS.iter().any(|k| name.eq_ignore_ascii_case(k)) {
                    return self.fail(
                        span,
                        format!("expected a field, found the keyword '{name}'"),
                    );
                }
                if name.ends_with('.') || name.contains("..") {
                    return self.fail(span, format!("{name:?} is not a field path"));
                }
                self.next();
                let field = FieldRef { path: name, span };
                self.predicate(field)
            }
            _ => self.expected("a field, 'not', 'in_segment' or '('"),
        }
    }

    fn predicate(&mut self, field: FieldRef) -> Result<Expr, RuleError> {
        let (tok, op_span) = self.peek().clone();
        let test = match tok {
            Tok::Op(op) => {
                self.next();
                Test::Compare(op, self.value()?)
            }
            Tok::Ident(ref w) if w.eq_ignore_ascii_case("in") => {
                self.next();
                if self.peek().0 != Tok::LBracket {
                    return self.expected("'[' to start the list after in");
                }
                self.next();
                let mut values = vec![self.value()?];
                while self.peek().0 == Tok::Comma {
                    self.next();
                    values.push(self.value()?);
                }
                if self.peek().0 != Tok::RBracket {
                    return self.expected("',' or ']' in the list");
                }
                self.next();
                Test::In(values)
            }
            Tok::Ident(ref w) if w.eq_ignore_ascii_case("exists") => {
                self.next();
                Test::Exists
            }
            Tok::Ident(ref w) if w.eq_ignore_ascii_case("contains") => {
                self.next();
                Test::Contains(self.text_value("contains")?)
            }
            Tok::Ident(ref w) if w.eq_ignore_ascii_case("starts_with") => {
                self.next();
                Test::StartsWith(self.text_value("starts_with")?)
            }
            _ => {
                return self.fail(
                    op_span,
                    format!(
                        "expected a comparison (=, !=, <, <=, >, >=), in, exists, contains or starts_with after {}, found {}",
                        field.path,
                        tok.describe()
                    ),
                );
            }
        };
        let end = self.tokens[self.pos.saturating_sub(1)].1;
        let span = field.span.to(end);
        Ok(Expr::Predicate { field, test, span })
    }

    fn text_value(&mut self, after: &str) -> Result<Value, RuleError> {
        let value = self.value()?;
        if !matches!(value.literal, Literal::Text(_)) {
            return self.fail(
                value.span,
                format!("{after} needs a text value in double quotes"),
            );
        }
        Ok(value)
    }

    fn value(&mut self) -> Result<Value, RuleError> {
        let (tok, span) = self.peek().clone();
        let literal = match tok {
            Tok::Str(s) => Literal::Text(s),
            Tok::Num(n) => Literal::Number(n),
            Tok::Ident(ref w) if w.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Tok::Ident(ref w) if w.eq_ignore_ascii_case("false") => Literal::Bool(false),
            Tok::Ident(ref w) if w.eq_ignore_ascii_case("now") => {
                self.next();
                return self.relative(span);
            }
            Tok::Ident(ref w) => {
                return self.fail(
                    span,
                    format!("expected a value, found '{w}' (put text in double quotes)"),
                );
            }
            _ => return self.expected("a value"),
        };
        self.next();
        Ok(Value { literal, span })
    }

    fn relative(&mut self, now_span: Span) -> Result<Value, RuleError> {
        let sign = match self.peek().0 {
            Tok::Plus => 1,
            Tok::Minus => -1,
            _ => {
                return Ok(Value {
                    literal: Literal::Now {
                        amount: 0,
                        unit: Unit::Days,
                    },
                    span: now_span,
                });
            }
        };
        self.next();
        let (tok, span) = self.next();
        let Tok::Num(n) = tok else {
            return self.fail(span, "expected an amount such as 30d, 6m or 18y after now");
        };
        // "30d" lexes as the number 30 followed by the word "d".
        let (unit_tok, unit_span) = self.next();
        let unit = match unit_tok {
            Tok::Ident(u) => match u.as_str() {
                "h" => Unit::Hours,
                "d" => Unit::Days,
                "w" => Unit::Weeks,
                "m" => Unit::Months,
                "y" => Unit::Years,
                _ => {
                    return self.fail(
                        unit_span,
                        format!("unknown unit '{u}': use h, d, w, m (months) or y"),
                    );
                }
            },
            _ => {
                return self.fail(
                    unit_span,
                    "expected a unit after the amount: h, d, w, m (months) or y",
                );
            }
        };
        if n.fract() != 0.0 || !(0.0..=100_000.0).contains(&n) {
            return self.fail(span, "the amount must be a whole number up to 100000");
        }
        #[allow(clippy::cast_possible_truncation)]
        let amount = sign * n as i64;
        Ok(Value {
            literal: Literal::Now { amount, unit },
            span: now_span.to(unit_span),
        })
    }
}

/// Parses a rule into its syntax tree.
///
/// # Errors
/// A [`RuleError`] at the first mistake.
pub fn parse(source: &str) -> Result<Expr, RuleError> {
    if source.len() > MAX_RULE_BYTES {
        return Err(error_at(
            source,
            Span { start: 0, end: 0 },
            format!("a rule has at most {MAX_RULE_BYTES} characters"),
        ));
    }
    if source.trim().is_empty() {
        return Err(error_at(source, Span::default(), "the rule is empty"));
    }
    let tokens = lex(source)?;
    let mut parser = Parser {
        source,
        tokens,
        pos: 0,
        depth: 0,
    };
    let expr = parser.or()?;
    if parser.peek().0 != Tok::End {
        return parser.expected("'and', 'or' or the end of the rule");
    }
    Ok(expr)
}
