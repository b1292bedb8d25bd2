//! Kubernetes label selectors (`?labelSelector=…`), parsed and matched as
//! `k8s.io/apimachinery/pkg/labels` does, because the HPA controller sends its `metric.selector`
//! in that syntax and expects the same answers a Kubernetes API server would give.
//!
//! Grammar (whitespace between tokens is ignored):
//!
//! ```text
//! selector     := "" | requirement ("," requirement)*
//! requirement  := key | "!" key
//!               | key ("=" | "==" | "!=") value?          (an absent value is "")
//!               | key ("in" | "notin") "(" values ")"
//!               | key (">" | "<") integer
//! ```
//!
//! Keys are qualified names and values label values (see `plan::check_label_key`); `in` and
//! `notin` are keywords only where an operator is expected. Matching: `=`/`==`/`in` need the key
//! present with one of the values; `!=`/`notin` match when the key is absent or has another
//! value; `>`/`<` need the key present with an integer value; an empty selector matches
//! everything. Errors carry the Kubernetes wording (`found 'x', expected: …`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::plan::{check_label_key, check_label_value};

/// A selector that does not parse; the message says what was found and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(String);

/// A requirement's operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Exists,
    DoesNotExist,
    Equals,
    DoubleEquals,
    NotEquals,
    In,
    NotIn,
    GreaterThan,
    LessThan,
}

/// One requirement: a key, an operator and its (sorted, distinct) values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    pub values: BTreeSet<String>,
}

/// A parsed label selector: every requirement must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    pub requirements: Vec<Requirement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    End,
    Identifier,
    In,
    NotIn,
    Comma,
    OpenPar,
    ClosedPar,
    DoesNotExist,
    Equals,
    DoubleEquals,
    NotEquals,
    GreaterThan,
    LessThan,
}

/// Tokens and their literal text, as the Kubernetes lexer would map them.
fn symbol(text: &str) -> Option<Token> {
    Some(match text {
        "," => Token::Comma,
        "(" => Token::OpenPar,
        ")" => Token::ClosedPar,
        "!" => Token::DoesNotExist,
        "=" => Token::Equals,
        "==" => Token::DoubleEquals,
        "!=" => Token::NotEquals,
        ">" => Token::GreaterThan,
        "<" => Token::LessThan,
        _ => return None,
    })
}

fn is_special(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Splits the input into tokens, ending with [`Token::End`]. A NUL byte ends the input, as in
/// the Kubernetes lexer. Every boundary falls on an ASCII byte, so slicing stays on UTF-8
/// character boundaries.
fn lex(input: &str) -> Vec<(Token, &str)> {
    let bytes = input.as_bytes();
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let mut tokens = Vec::new();
    let mut at = 0;
    loop {
        while at < end && is_whitespace(bytes[at]) {
            at += 1;
        }
        if at >= end {
            tokens.push((Token::End, ""));
            return tokens;
        }
        let start = at;
        if is_special(bytes[at]) {
            // The longest run of special characters that is still a token.
            let mut best = None;
            while at < end && is_special(bytes[at]) {
                match symbol(&input[start..=at]) {
                    Some(token) => best = Some((token, at + 1)),
                    None if best.is_some() => break,
                    None => {}
                }
                at += 1;
            }
            // Every single special character is a token, so `best` is always set.
            let (token, stop) = best.unwrap_or((Token::Identifier, at));
            tokens.push((token, &input[start..stop]));
            at = stop;
        } else {
            while at < end && !is_special(bytes[at]) && !is_whitespace(bytes[at]) {
                at += 1;
            }
            let text = &input[start..at];
            let token = match text {
                "in" => Token::In,
                "notin" => Token::NotIn,
                _ => Token::Identifier,
            };
            tokens.push((token, text));
        }
    }
}

/// Where a token is read: in `Values`, the keywords `in` and `notin` are plain identifiers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

struct Parser<'a> {
    tokens: Vec<(Token, &'a str)>,
    at: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self, context: Context) -> (Token, &'a str) {
        let (token, text) = self.tokens[self.at.min(self.tokens.len() - 1)];
        match (context, token) {
            (Context::Values, Token::In | Token::NotIn) => (Token::Identifier, text),
            _ => (token, text),
        }
    }

    fn next(&mut self, context: Context) -> (Token, &'a str) {
        let item = self.peek(context);
        if self.at < self.tokens.len() - 1 {
            self.at += 1;
        }
        item
    }

    fn selector(&mut self) -> Result<Selector, SelectorError> {
        let mut requirements = Vec::new();
        loop {
            match self.peek(Context::Values) {
                (Token::Identifier | Token::DoesNotExist, _) => {
                    let requirement = self.requirement().map_err(|SelectorError(why)| {
                        SelectorError(format!("unable to parse requirement: {why}"))
                    })?;
                    requirements.push(requirement);
                    match self.next(Context::Values) {
                        (Token::End, _) => return Ok(Selector { requirements }),
                        (Token::Comma, _) => match self.peek(Context::Values) {
                            (Token::Identifier | Token::DoesNotExist, _) => {}
                            (_, text) => return fail(text, "identifier after ','"),
                        },
                        (_, text) => return fail(text, "',' or 'end of string'"),
                    }
                }
                (Token::End, _) => return Ok(Selector { requirements }),
                (_, text) => return fail(text, "!, identifier, or 'end of string'"),
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        let (mut token, mut key) = self.next(Context::Values);
        let negated = token == Token::DoesNotExist;
        if negated {
            (token, key) = self.next(Context::Values);
        }
        if token != Token::Identifier {
            return fail(key, "identifier");
        }
        check_label_key(key).map_err(SelectorError)?;
        let at_end = matches!(self.peek(Context::Values).0, Token::End | Token::Comma);
        if negated || at_end {
            let operator = if negated {
                Operator::DoesNotExist
            } else {
                Operator::Exists
            };
            return requirement(key, operator, BTreeSet::new());
        }
        let operator = match self.next(Context::KeyAndOperator) {
            (Token::In, _) => Operator::In,
            (Token::NotIn, _) => Operator::NotIn,
            (Token::Equals, _) => Operator::Equals,
            (Token::DoubleEquals, _) => Operator::DoubleEquals,
            (Token::NotEquals, _) => Operator::NotEquals,
            (Token::GreaterThan, _) => Operator::GreaterThan,
            (Token::LessThan, _) => Operator::LessThan,
            (_, text) => return fail(text, "in, notin, =, ==, !=, gt, lt"),
        };
        let values = match operator {
            Operator::In | Operator::NotIn => self.value_set()?,
            _ => self.exact_value()?,
        };
        requirement(key, operator, values)
    }

    /// `( v1, v2 )`. Empty elements are the empty value, and `(a,,)` is an error, exactly as
    /// Kubernetes' `parseValues` and `parseIdentifiersList` have it.
    fn value_set(&mut self) -> Result<BTreeSet<String>, SelectorError> {
        let (token, text) = self.next(Context::Values);
        if token != Token::OpenPar {
            return fail(text, "'('");
        }
        let mut values = BTreeSet::new();
        match self.peek(Context::Values) {
            (Token::ClosedPar, _) => {
                self.next(Context::Values);
                values.insert(String::new());
                return Ok(values);
            }
            (Token::Identifier | Token::Comma, _) => {}
            (_, text) => return fail(text, "',', ')' or identifier"),
        }
        loop {
            match self.next(Context::Values) {
                (Token::Identifier, value) => {
                    values.insert(value.to_string());
                    match self.peek(Context::Values) {
                        (Token::Comma, _) => {}
                        (Token::ClosedPar, _) => break,
                        (_, text) => return fail(text, "',' or ')'"),
                    }
                }
                (Token::Comma, _) => {
                    if values.is_empty() {
                        values.insert(String::new());
                    }
                    match self.peek(Context::Values).0 {
                        Token::ClosedPar => {
                            values.insert(String::new());
                            break;
                        }
                        Token::Comma => {
                            self.next(Context::Values);
                            values.insert(String::new());
                        }
                        _ => {}
                    }
                }
                (_, text) => return fail(text, "',', or identifier"),
            }
        }
        match self.next(Context::Values) {
            (Token::ClosedPar, _) => Ok(values),
            (_, text) => fail(text, "')'"),
        }
    }

    /// The single value after `=`, `==`, `!=`, `>` or `<`; nothing before `,` or the end is "".
    fn exact_value(&mut self) -> Result<BTreeSet<String>, SelectorError> {
        let mut values = BTreeSet::new();
        match self.peek(Context::Values) {
            (Token::End | Token::Comma, _) => {
                values.insert(String::new());
            }
            (Token::Identifier, value) => {
                self.next(Context::Values);
                values.insert(value.to_string());
            }
            (_, text) => return fail(text, "identifier"),
        }
        Ok(values)
    }
}

fn fail<T>(found: &str, expected: &str) -> Result<T, SelectorError> {
    let found = if found.is_empty() {
        "end of string".to_string()
    } else {
        crate::series::clip(found)
    };
    Err(SelectorError(format!(
        "found '{found}', expected: {expected}"
    )))
}

/// A checked requirement, as Kubernetes' `NewRequirement` checks it.
fn requirement(
    key: &str,
    operator: Operator,
    values: BTreeSet<String>,
) -> Result<Requirement, SelectorError> {
    let bad = |why: String| Err(SelectorError(why));
    match operator {
        Operator::In | Operator::NotIn if values.is_empty() => {
            return bad("for 'in', 'notin' operators, values set can't be empty".into());
        }
        Operator::GreaterThan | Operator::LessThan => {
            if let Some(value) = values.iter().find(|v| v.parse::<i64>().is_err()) {
                return bad(format!(
                    "for 'Gt', 'Lt' operators, the value must be an integer, got {:?}",
                    crate::series::clip(value)
                ));
            }
        }
        _ => {}
    }
    for value in &values {
        check_label_value(value).map_err(SelectorError)?;
    }
    Ok(Requirement {
        key: key.to_string(),
        operator,
        values,
    })
}

impl Selector {
    /// Parses a selector; the empty string selects everything.
    pub fn parse(input: &str) -> Result<Selector, SelectorError> {
        Parser {
            tokens: lex(input),
            at: 0,
        }
        .selector()
    }

    /// True when every requirement holds for `labels`.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// True for the selector that selects everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

impl Requirement {
    /// Whether `labels` satisfy this requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => {
                value.is_some_and(|v| self.values.contains(v))
            }
            Operator::NotIn | Operator::NotEquals => value.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(have), Some(want)) = (
                    value.and_then(|v| v.parse::<i64>().ok()),
                    self.values.first().and_then(|v| v.parse::<i64>().ok()),
                ) else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    have > want
                } else {
                    have < want
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let first = self.values.first().map_or("", String::as_str);
        let list = || self.values.iter().cloned().collect::<Vec<_>>().join(",");
        match self.operator {
            Operator::Exists => write!(f, "{}", self.key),
            Operator::DoesNotExist => write!(f, "!{}", self.key),
            Operator::Equals => write!(f, "{}={first}", self.key),
            Operator::DoubleEquals => write!(f, "{}=={first}", self.key),
            Operator::NotEquals => write!(f, "{}!={first}", self.key),
            Operator::GreaterThan => write!(f, "{}>{first}", self.key),
            Operator::LessThan => write!(f, "{}<{first}", self.key),
            Operator::In => write!(f, "{} in ({})", self.key, list()),
            Operator::NotIn => write!(f, "{} notin ({})", self.key, list()),
        }
    }
}

/// The canonical text of a selector (requirements sorted by key, as Kubernetes prints them).
impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sorted: Vec<&Requirement> = self.requirements.iter().collect();
        sorted.sort_by(|a, b| a.key.cmp(&b.key));
        let parts: Vec<String> = sorted.iter().map(|r| r.to_string()).collect();
        write!(f, "{}", parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn selects(selector: &str, set: &[(&str, &str)]) -> bool {
        Selector::parse(selector)
            .unwrap_or_else(|e| panic!("{selector:?}: {e}"))
            .matches(&labels(set))
    }

    const SET: &[(&str, &str)] = &[("target", "checkout"), ("env", "prod"), ("tier", "3")];

    #[test]
    fn equality_based() {
        assert!(selects("", SET));
        assert!(selects("target=checkout", SET));
        assert!(selects("target==checkout,env=prod", SET));
        assert!(selects(" target = checkout , env == prod ", SET));
        assert!(!selects("target=checkout,env=dev", SET));
        assert!(selects("env!=dev", SET));
        assert!(!selects("env!=prod", SET));
        assert!(selects("region!=eu", SET), "!= matches an absent key");
        assert!(!selects("region=eu", SET));
        assert!(selects("region=", &[("region", "")]));
        assert!(
            !selects("region=", SET),
            "= with no value needs the key present"
        );
    }

    #[test]
    fn set_based() {
        assert!(selects("env in (prod, staging)", SET));
        assert!(selects("env in (prod)", SET));
        assert!(!selects("env in (dev,staging)", SET));
        assert!(selects("env notin (dev)", SET));
        assert!(!selects("env notin (prod,dev)", SET));
        assert!(
            selects("region notin (eu)", SET),
            "notin matches an absent key"
        );
        assert!(!selects("region in (eu)", SET));
        assert!(selects("env", SET));
        assert!(!selects("!env", SET));
        assert!(selects("!region", SET));
        assert!(!selects("region", SET));
        assert!(selects("tier>2,tier<4", SET));
        assert!(!selects("tier>3", SET));
        assert!(
            !selects("env>1", SET),
            "a non-integer label never satisfies gt"
        );
        assert!(selects(
            "target=checkout,env in (prod),!canary,tier notin (1)",
            SET
        ));
        // `in` and `notin` are plain words where a key or a value is expected.
        assert!(selects("in=notin", &[("in", "notin")]));
        assert!(selects("x in (in,notin)", &[("x", "in")]));
        // Empty elements of a set are the empty value.
        assert!(selects("x in (a,)", &[("x", "")]));
        assert!(selects("x in (,a)", &[("x", "")]));
        assert!(selects("x in ()", &[("x", "")]));
        assert!(selects("x in (a,,b)", &[("x", "")]));
    }

    #[test]
    fn bad_selectors_say_what_was_expected() {
        for (bad, expected) in [
            ("env=prod,", "identifier after ','"),
            (",", "!, identifier, or 'end of string'"),
            ("env in prod", "'('"),
            ("env in (prod", "',' or ')'"),
            ("env in (prod staging)", "',' or ')'"),
            ("env prod", "in, notin, =, ==, !=, gt, lt"),
            ("env=(prod)", "identifier"),
            ("env==prod==x", "',' or 'end of string'"),
            ("!env=prod", "',' or 'end of string'"),
            ("tier>x", "must be an integer"),
            ("tier>-1", "invalid label value"),
            ("tier>", "must be an integer"),
            ("bad key=1", "in, notin, =, ==, !=, gt, lt"),
            ("a/b/c=1", "invalid label key"),
            ("-env=prod", "invalid label key"),
            ("env=-prod", "invalid label value"),
            ("env in (a/b)", "invalid label value"),
            ("=prod", "!, identifier, or 'end of string'"),
            ("!", "identifier"),
            ("env in (prod,", "',', or identifier"),
            ("env in (a,,)", "',', or identifier"),
        ] {
            let err = Selector::parse(bad).expect_err(bad).to_string();
            assert!(err.contains(expected), "{bad:?}: {err}");
        }
        let err = Selector::parse("env in prod").unwrap_err().to_string();
        assert!(
            err.starts_with("unable to parse requirement: found 'prod'"),
            "{err}"
        );
    }

    #[test]
    fn lexing_follows_kubernetes() {
        let kinds = |s: &str| lex(s).into_iter().map(|(t, _)| t).collect::<Vec<_>>();
        assert_eq!(
            kinds("a!=b"),
            [
                Token::Identifier,
                Token::NotEquals,
                Token::Identifier,
                Token::End
            ]
        );
        assert_eq!(
            kinds("a===b"),
            [
                Token::Identifier,
                Token::DoubleEquals,
                Token::Equals,
                Token::Identifier,
                Token::End
            ]
        );
        assert_eq!(kinds("x in(y)")[1], Token::In);
        assert_eq!(kinds("a=b\0,c"), kinds("a=b"), "NUL ends the input");
        assert_eq!(
            kinds("é=ü").len(),
            4,
            "non-ASCII bytes stay inside identifiers"
        );
        assert!(Selector::parse("é=ü").is_err());
    }

    #[test]
    fn canonical_text() {
        let s = Selector::parse("z notin (b,a), !y, x>3, env==prod, a in (q)").unwrap();
        assert_eq!(s.to_string(), "a in (q),env==prod,x>3,!y,z notin (a,b)");
    }
}
