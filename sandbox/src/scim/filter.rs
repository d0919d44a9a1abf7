//! SCIM filter expressions as Databricks accepts them: `attribute op "value"` with double-quoted strings
//! (or bare `true`/`false` for boolean attributes), operators `eq ne co sw`, joined by `and`/`or` (`and`
//! binds tighter; parentheses are allowed). Each resource type names its filterable attributes in a
//! [`Schema`]; anything else (single quotes, unknown attribute or operator, `pr`, `not`, a value of the
//! wrong type, trailing garbage) is a 400 with `scimType: invalidFilter`.

use std::iter::Peekable;
use std::str::Chars;

use super::error::ScimError;

/// How an attribute compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text { ignore_case: bool },
    Flag,
}

/// Filterable attributes of one resource type: lower-cased name and kind.
pub(crate) type Schema = &'static [(&'static str, Kind)];

/// Filter over the `value` of multi-valued attributes (`members[value eq "…"]`).
pub(crate) const VALUE_SCHEMA: Schema = &[("value", Kind::Text { ignore_case: false })];

/// An attribute's current value, as a resource reports it to the filter.
pub(crate) enum AttrValue<'a> {
    Text(&'a str),
    Flag(bool),
}

/// A resource that filters can look into; `name` is lower-cased and comes from the resource's schema.
pub(crate) trait Filterable {
    fn attribute(&self, name: &str) -> Option<AttrValue<'_>>;
}

/// A bare string seen as an object with one attribute, `value`.
pub(crate) struct ValueOf<'a>(pub &'a str);

impl Filterable for ValueOf<'_> {
    fn attribute(&self, name: &str) -> Option<AttrValue<'_>> {
        (name == "value").then_some(AttrValue::Text(self.0))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Co,
    Sw,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Literal {
    Text(String),
    Flag(bool),
}

/// A parsed filter, checked against a schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Filter {
    Compare {
        attribute: &'static str,
        kind: Kind,
        op: Op,
        literal: Literal,
    },
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
}

impl Filter {
    /// Parses `input`, accepting only the attributes of `schema`.
    pub fn parse(input: &str, schema: Schema) -> Result<Filter, ScimError> {
        let mut parser = Parser {
            tokens: tokenize(input)?,
            position: 0,
            schema,
        };
        let filter = parser.disjunction()?;
        match parser.tokens.get(parser.position) {
            None => Ok(filter),
            Some(token) => Err(invalid(format!("unexpected {token:?}"))),
        }
    }

    /// The values a filter over [`VALUE_SCHEMA`] selects when it is only `value eq "…"` comparisons
    /// joined by `or` (the usual `members[value eq "<id>"]`): those can be looked up instead of testing
    /// every value. `None` for any other filter.
    pub fn equal_values(&self) -> Option<Vec<&str>> {
        match self {
            Filter::Compare {
                attribute: "value",
                kind: Kind::Text { ignore_case: false },
                op: Op::Eq,
                literal: Literal::Text(text),
            } => Some(vec![text.as_str()]),
            Filter::Or(left, right) => {
                let mut values = left.equal_values()?;
                values.extend(right.equal_values()?);
                Some(values)
            }
            _ => None,
        }
    }

    pub fn matches(&self, item: &impl Filterable) -> bool {
        match self {
            Filter::And(left, right) => left.matches(item) && right.matches(item),
            Filter::Or(left, right) => left.matches(item) || right.matches(item),
            Filter::Compare {
                attribute,
                kind,
                op,
                literal,
            } => match (item.attribute(attribute), literal) {
                (Some(AttrValue::Text(actual)), Literal::Text(expected)) => {
                    let ignore_case = matches!(kind, Kind::Text { ignore_case: true });
                    compare_text(actual, expected, *op, ignore_case)
                }
                (Some(AttrValue::Flag(actual)), Literal::Flag(expected)) => match op {
                    Op::Eq => actual == *expected,
                    Op::Ne => actual != *expected,
                    Op::Co | Op::Sw => false,
                },
                _ => false,
            },
        }
    }
}

fn compare_text(actual: &str, expected: &str, op: Op, ignore_case: bool) -> bool {
    let (actual, expected) = if ignore_case {
        (actual.to_lowercase(), expected.to_lowercase())
    } else {
        (actual.to_owned(), expected.to_owned())
    };
    match op {
        Op::Eq => actual == expected,
        Op::Ne => actual != expected,
        Op::Co => actual.contains(&expected),
        Op::Sw => actual.starts_with(&expected),
    }
}

fn invalid(reason: impl std::fmt::Display) -> ScimError {
    ScimError::invalid_filter(format!("Invalid filter: {reason}."))
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Quoted(String),
    Word(String),
}

fn tokenize(input: &str) -> Result<Vec<Token>, ScimError> {
    let mut tokens = Vec::new();
    let mut chars = input.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' => {
                chars.next();
                tokens.push(if c == '(' { Token::Open } else { Token::Close });
            }
            '"' => {
                chars.next();
                tokens.push(Token::Quoted(quoted(&mut chars)?));
            }
            _ => tokens.push(Token::Word(word(&mut chars))),
        }
    }
    Ok(tokens)
}

fn quoted(chars: &mut Peekable<Chars<'_>>) -> Result<String, ScimError> {
    let mut text = String::new();
    loop {
        match chars.next() {
            None => return Err(invalid("unterminated string")),
            Some('"') => return Ok(text),
            Some('\\') => text.push(chars.next().ok_or_else(|| invalid("dangling escape"))?),
            Some(c) => text.push(c),
        }
    }
}

fn word(chars: &mut Peekable<Chars<'_>>) -> String {
    let mut word = String::new();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() || matches!(c, '(' | ')' | '"') {
            break;
        }
        word.push(c);
        chars.next();
    }
    word
}

struct Parser {
    tokens: Vec<Token>,
    position: usize,
    schema: Schema,
}

impl Parser {
    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.position).cloned();
        self.position += 1;
        token
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = matches!(self.tokens.get(self.position),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword));
        if found {
            self.position += 1;
        }
        found
    }

    fn disjunction(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.conjunction()?;
        while self.eat_keyword("or") {
            left = Filter::Or(Box::new(left), Box::new(self.conjunction()?));
        }
        Ok(left)
    }

    fn conjunction(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.primary()?;
        while self.eat_keyword("and") {
            left = Filter::And(Box::new(left), Box::new(self.primary()?));
        }
        Ok(left)
    }

    fn primary(&mut self) -> Result<Filter, ScimError> {
        match self.next() {
            Some(Token::Open) => {
                let inner = self.disjunction()?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err(invalid("missing ')'")),
                }
            }
            Some(Token::Word(attribute)) => self.comparison(&attribute),
            Some(token) => Err(invalid(format!("expected an attribute, found {token:?}"))),
            None => Err(invalid("expression expected")),
        }
    }

    fn comparison(&mut self, attribute: &str) -> Result<Filter, ScimError> {
        let lower = attribute.to_ascii_lowercase();
        let &(attribute, kind) = self
            .schema
            .iter()
            .find(|(name, _)| *name == lower)
            .ok_or_else(|| invalid(format!("attribute '{attribute}' is not filterable")))?;
        let op = match self.next() {
            Some(Token::Word(op)) => parse_op(&op)?,
            _ => return Err(invalid("operator expected")),
        };
        let literal = match self.next() {
            Some(Token::Quoted(text)) => Literal::Text(text),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("true") => Literal::Flag(true),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("false") => Literal::Flag(false),
            Some(Token::Word(w)) if w.starts_with('\'') => {
                return Err(invalid("values must be enclosed in double quotes"));
            }
            _ => return Err(invalid("value expected")),
        };
        match (kind, &literal, op) {
            (Kind::Text { .. }, Literal::Text(_), _)
            | (Kind::Flag, Literal::Flag(_), Op::Eq | Op::Ne) => Ok(Filter::Compare {
                attribute,
                kind,
                op,
                literal,
            }),
            _ => Err(invalid(format!(
                "value or operator does not suit '{attribute}'"
            ))),
        }
    }
}

fn parse_op(op: &str) -> Result<Op, ScimError> {
    match op.to_ascii_lowercase().as_str() {
        "eq" => Ok(Op::Eq),
        "ne" => Ok(Op::Ne),
        "co" => Ok(Op::Co),
        "sw" => Ok(Op::Sw),
        _ => Err(invalid(format!("unsupported operator '{op}'"))),
    }
}
