//! The `$filter` subset the emulator understands: `prop eq|ne literal`, `startswith(prop,'text')`, `not`,
//! `and`, `or` and parentheses, with OData string literals (`'O''Brien'`: a quote is doubled), `true`,
//! `false` and `null`. String comparisons ignore case, as the directory does. Anything else is a syntax
//! error (Graph: 400 `BadRequest` "Invalid filter clause"); an unknown property is a 400 as well.

use serde_json::{Map, Value};

use super::objects::{Kind, canonical_property};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Filter {
    Or(Box<Filter>, Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Eq(&'static str, Value),
    StartsWith(&'static str, String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum FilterError {
    /// Syntax error at this character position.
    Syntax(usize),
    UnknownProperty(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Open,
    Close,
    Comma,
}

fn tokenize(input: &str) -> Result<Vec<(usize, Token)>, FilterError> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        match c {
            ' ' | '\t' => i += 1,
            '(' | ')' | ',' => {
                let token = match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    _ => Token::Comma,
                };
                tokens.push((start, token));
                i += 1;
            }
            '\'' => {
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(FilterError::Syntax(start)),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            text.push('\'');
                            i += 2;
                        }
                        Some('\'') => break,
                        Some(other) => {
                            text.push(*other);
                            i += 1;
                        }
                    }
                }
                i += 1;
                tokens.push((start, Token::Text(text)));
            }
            c if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' || c == '/' => {
                while chars
                    .get(i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || "_-./".contains(*c))
                {
                    i += 1;
                }
                tokens.push((start, Token::Word(chars[start..i].iter().collect())));
            }
            _ => return Err(FilterError::Syntax(start)),
        }
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: Vec<(usize, Token)>,
    next: usize,
    end: usize,
    kinds: &'a [Kind],
}

/// Parses `input` for objects of `kinds`.
pub(super) fn parse(input: &str, kinds: &[Kind]) -> Result<Filter, FilterError> {
    let mut parser = Parser {
        tokens: tokenize(input)?,
        next: 0,
        end: input.chars().count(),
        kinds,
    };
    let filter = parser.or()?;
    match parser.tokens.get(parser.next) {
        None => Ok(filter),
        Some((position, _)) => Err(FilterError::Syntax(*position)),
    }
}

impl Parser<'_> {
    fn position(&self) -> usize {
        self.tokens
            .get(self.next)
            .map_or(self.end, |(position, _)| *position)
    }

    fn take(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.next).map(|(_, token)| token.clone());
        self.next += 1;
        token
    }

    fn expect(&mut self, expected: &Token) -> Result<(), FilterError> {
        let position = self.position();
        if self.take().as_ref() == Some(expected) {
            Ok(())
        } else {
            Err(FilterError::Syntax(position))
        }
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.tokens.get(self.next), Some((_, Token::Word(w))) if w.eq_ignore_ascii_case(keyword))
    }

    fn or(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.and()?;
        while self.peek_keyword("or") {
            self.next += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.unary()?;
        while self.peek_keyword("and") {
            self.next += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, FilterError> {
        if self.peek_keyword("not") {
            self.next += 1;
            return Ok(Filter::Not(Box::new(self.unary()?)));
        }
        let position = self.position();
        match self.take() {
            Some(Token::Open) => {
                let inner = self.or()?;
                self.expect(&Token::Close)?;
                Ok(inner)
            }
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("startswith") => {
                self.expect(&Token::Open)?;
                let property = self.property()?;
                self.expect(&Token::Comma)?;
                let position = self.position();
                let Some(Token::Text(prefix)) = self.take() else {
                    return Err(FilterError::Syntax(position));
                };
                self.expect(&Token::Close)?;
                Ok(Filter::StartsWith(property, prefix))
            }
            Some(Token::Word(_)) => {
                self.next -= 1;
                let property = self.property()?;
                let position = self.position();
                let negate = match self.take() {
                    Some(Token::Word(op)) if op.eq_ignore_ascii_case("eq") => false,
                    Some(Token::Word(op)) if op.eq_ignore_ascii_case("ne") => true,
                    _ => return Err(FilterError::Syntax(position)),
                };
                let literal = self.literal()?;
                let comparison = Filter::Eq(property, literal);
                Ok(if negate {
                    Filter::Not(Box::new(comparison))
                } else {
                    comparison
                })
            }
            _ => Err(FilterError::Syntax(position)),
        }
    }

    fn property(&mut self) -> Result<&'static str, FilterError> {
        let position = self.position();
        match self.take() {
            Some(Token::Word(name)) => {
                canonical_property(self.kinds, &name).ok_or(FilterError::UnknownProperty(name))
            }
            _ => Err(FilterError::Syntax(position)),
        }
    }

    fn literal(&mut self) -> Result<Value, FilterError> {
        let position = self.position();
        match self.take() {
            Some(Token::Text(text)) => Ok(Value::String(text)),
            Some(Token::Word(word)) if word == "true" => Ok(Value::Bool(true)),
            Some(Token::Word(word)) if word == "false" => Ok(Value::Bool(false)),
            Some(Token::Word(word)) if word == "null" => Ok(Value::Null),
            _ => Err(FilterError::Syntax(position)),
        }
    }
}

impl Filter {
    /// Whether an object with these properties (see `objects::full`) passes.
    pub(super) fn matches(&self, object: &Map<String, Value>) -> bool {
        match self {
            Filter::Or(a, b) => a.matches(object) || b.matches(object),
            Filter::And(a, b) => a.matches(object) && b.matches(object),
            Filter::Not(inner) => !inner.matches(object),
            Filter::Eq(property, expected) => {
                match (object.get(*property).unwrap_or(&Value::Null), expected) {
                    (Value::String(actual), Value::String(expected)) => {
                        actual.to_lowercase() == expected.to_lowercase()
                    }
                    (actual, expected) => actual == expected,
                }
            }
            Filter::StartsWith(property, prefix) => object
                .get(*property)
                .and_then(Value::as_str)
                .is_some_and(|actual| actual.to_lowercase().starts_with(&prefix.to_lowercase())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubled_quotes_and_precedence() {
        let filter = parse(
            "displayName eq 'O''Brien' or not (mail ne null and accountEnabled eq true)",
            &[Kind::User],
        );
        let Ok(Filter::Or(left, _)) = filter else {
            panic!("{filter:?}")
        };
        assert_eq!(
            *left,
            Filter::Eq("displayName", Value::String("O'Brien".into()))
        );
    }

    #[test]
    fn errors_carry_positions_and_properties() {
        // An undoubled quote ends the literal: `Brien` follows, then an unterminated literal.
        assert_eq!(
            parse("displayName eq 'O'Brien'", &[Kind::Group]),
            Err(FilterError::Syntax(23))
        );
        assert_eq!(
            parse("displayName eq 'O' Brien", &[Kind::Group]),
            Err(FilterError::Syntax(19))
        );
        assert_eq!(
            parse("displayName eq 'open", &[Kind::Group]),
            Err(FilterError::Syntax(15))
        );
        assert_eq!(
            parse("colour eq 'red'", &[Kind::Group]),
            Err(FilterError::UnknownProperty("colour".into()))
        );
        assert_eq!(
            parse("displayName eq", &[Kind::Group]),
            Err(FilterError::Syntax(14))
        );
    }
}
