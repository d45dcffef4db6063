//! SCIM filters (RFC 7644 section 3.4.2.2): parsing, checking against a resource schema, and
//! evaluation on stored resources, honouring each attribute's `caseExact`.

use std::cmp::Ordering;

use serde_json::Value;

use super::error::ScimError;
use super::schema::{Attr, Kind, ResourceSchema};
use super::validate::parse_date_time;

/// `[urn:]name[.sub]` as written in a filter or a PATCH path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    pub urn: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

impl AttrPath {
    pub fn parse(text: &str) -> Result<AttrPath, String> {
        let (urn, rest) = if text.len() > 4 && text[..4].eq_ignore_ascii_case("urn:") {
            match text.rfind(':') {
                Some(i) => (Some(text[..i].to_string()), &text[i + 1..]),
                None => (None, text),
            }
        } else {
            (None, text)
        };
        let (name, sub) = match rest.split_once('.') {
            Some((name, sub)) => (name, Some(sub)),
            None => (rest, None),
        };
        if !is_attr_name(name) || sub.is_some_and(|s| !is_attr_name(s)) {
            return Err(format!("{text:?} is not an attribute path"));
        }
        Ok(AttrPath {
            urn,
            name: name.to_string(),
            sub: sub.map(str::to_string),
        })
    }
}

fn is_attr_name(s: &str) -> bool {
    if s == "$ref" {
        return true;
    }
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    fn parse(word: &str) -> Option<CompareOp> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: Value,
    },
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `emails[type eq "work"]`: the inner filter applies to each value of `path`.
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Str(String),
    Word(String),
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | '[' | ']' => {
                chars.next();
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    '[' => Token::OpenBracket,
                    _ => Token::CloseBracket,
                });
            }
            '"' => {
                chars.next();
                let mut end = None;
                let mut escaped = false;
                for (i, c) in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        end = Some(i);
                        break;
                    }
                }
                let Some(end) = end else {
                    return Err("unterminated string".to_string());
                };
                let literal = &text[start..=end];
                let s: String = serde_json::from_str(literal)
                    .map_err(|e| format!("bad string {literal}: {e}"))?;
                tokens.push(Token::Str(s));
            }
            _ => {
                let mut end = text.len();
                while let Some(&(i, c)) = chars.peek() {
                    if c.is_whitespace() || "()[]\"".contains(c) {
                        end = i;
                        break;
                    }
                    chars.next();
                }
                tokens.push(Token::Word(text[start..end].to_string()));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword))
    }

    fn expect(&mut self, token: Token, what: &str) -> Result<(), String> {
        match self.next() {
            Some(t) if t == token => Ok(()),
            Some(t) => Err(format!("expected {what}, found {t:?}")),
            None => Err(format!("expected {what}, found the end")),
        }
    }

    fn or(&mut self) -> Result<Filter, String> {
        let mut left = self.and()?;
        while self.peek_keyword("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, String> {
        let mut left = self.not()?;
        while self.peek_keyword("and") {
            self.pos += 1;
            let right = self.not()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Filter, String> {
        if self.peek_keyword("not") {
            self.pos += 1;
            return Ok(Filter::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Filter, String> {
        match self.next() {
            Some(Token::Open) => {
                let inner = self.or()?;
                self.expect(Token::Close, "')'")?;
                Ok(inner)
            }
            Some(Token::Word(word)) => {
                let path = AttrPath::parse(&word)?;
                match self.next() {
                    Some(Token::OpenBracket) => {
                        let inner = self.or()?;
                        self.expect(Token::CloseBracket, "']'")?;
                        Ok(Filter::ValuePath {
                            path,
                            filter: Box::new(inner),
                        })
                    }
                    Some(Token::Word(op)) if op.eq_ignore_ascii_case("pr") => {
                        Ok(Filter::Present(path))
                    }
                    Some(Token::Word(op)) => {
                        let op = CompareOp::parse(&op)
                            .ok_or_else(|| format!("unknown operator {op:?}"))?;
                        let value = self.comp_value()?;
                        Ok(Filter::Compare { path, op, value })
                    }
                    other => Err(format!(
                        "expected an operator after {word}, found {other:?}"
                    )),
                }
            }
            other => Err(format!("expected an attribute or '(', found {other:?}")),
        }
    }

    fn comp_value(&mut self) -> Result<Value, String> {
        match self.next() {
            Some(Token::Str(s)) => Ok(Value::String(s)),
            Some(Token::Word(w)) => match w.as_str() {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                "null" => Ok(Value::Null),
                _ => serde_json::from_str::<serde_json::Number>(&w)
                    .map(Value::Number)
                    .map_err(|_| format!("{w:?} is not a value (strings need double quotes)")),
            },
            other => Err(format!("expected a value, found {other:?}")),
        }
    }
}

/// How deep groupings and `not`s may nest: the parser, the evaluator and dropping a filter
/// recurse once per level, and a hostile client must not overflow the stack.
const MAX_NESTING: usize = 64;

fn check_nesting(tokens: &[Token]) -> Result<(), String> {
    let (mut depth, mut deepest, mut nots) = (0usize, 0usize, 0usize);
    for token in tokens {
        match token {
            Token::Open | Token::OpenBracket => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            Token::Close | Token::CloseBracket => depth = depth.saturating_sub(1),
            Token::Word(word) if word.eq_ignore_ascii_case("not") => nots += 1,
            _ => {}
        }
    }
    if deepest > MAX_NESTING || nots > MAX_NESTING {
        return Err(format!("the filter nests deeper than {MAX_NESTING} levels"));
    }
    Ok(())
}

impl Filter {
    /// Parses a filter; any syntax error is a 400 `invalidFilter`.
    pub fn parse(text: &str) -> Result<Filter, ScimError> {
        Filter::parse_inner(text)
            .map_err(|e| ScimError::invalid_filter(format!("cannot parse filter {text:?}: {e}")))
    }

    fn parse_inner(text: &str) -> Result<Filter, String> {
        let tokens = tokenize(text)?;
        check_nesting(&tokens)?;
        let mut parser = Parser { tokens, pos: 0 };
        let filter = parser.or()?;
        match parser.peek() {
            None => Ok(filter),
            Some(t) => Err(format!("unexpected {t:?}")),
        }
    }

    /// Checks that every attribute exists in `schema` and every value suits its attribute.
    pub fn check(&self, schema: &ResourceSchema) -> Result<(), ScimError> {
        self.check_in(&Scope::Resource(schema))
            .map_err(ScimError::invalid_filter)
    }

    fn check_in(&self, scope: &Scope) -> Result<(), String> {
        match self {
            Filter::Compare { path, op, value } => {
                let leaf = scope.leaf(path).ok_or_else(|| unknown(path))?;
                check_comparison(leaf, *op, value)
            }
            Filter::Present(path) => scope.leaf(path).map(|_| ()).ok_or_else(|| unknown(path)),
            Filter::And(a, b) | Filter::Or(a, b) => {
                a.check_in(scope)?;
                b.check_in(scope)
            }
            Filter::Not(a) => a.check_in(scope),
            Filter::ValuePath { path, filter } => {
                let Scope::Resource(_) = scope else {
                    return Err("value filters cannot be nested".to_string());
                };
                let attr = scope.attr(path).ok_or_else(|| unknown(path))?;
                if attr.kind != Kind::Complex || path.sub.is_some() {
                    return Err(format!("{} has no values to filter", path.name));
                }
                filter.check_in(&Scope::Element(attr))
            }
        }
    }

    /// Whether `resource` (a stored resource, canonical names) matches. Call [`Filter::check`] first.
    pub fn matches(&self, schema: &ResourceSchema, resource: &Value) -> bool {
        self.eval(&Scope::Resource(schema), resource)
    }

    /// Evaluates on one value of a multi-valued complex attribute (for PATCH value paths).
    pub fn matches_element(&self, parent: &Attr, element: &Value) -> bool {
        self.eval(&Scope::Element(parent), element)
    }

    /// Checks a filter used inside `parent[...]`.
    pub fn check_element(&self, parent: &Attr) -> Result<(), ScimError> {
        self.check_in(&Scope::Element(parent))
            .map_err(ScimError::invalid_filter)
    }

    fn eval(&self, scope: &Scope, target: &Value) -> bool {
        match self {
            Filter::Compare { path, op, value } => {
                let Some(leaf) = scope.leaf(path) else {
                    return false;
                };
                let values = scope.values(path, target);
                let any = |op| values.iter().any(|v| compare(leaf, op, v, value));
                match (op, value) {
                    (CompareOp::Eq, Value::Null) => values.iter().all(|v| !present(v)),
                    (CompareOp::Ne, Value::Null) => values.iter().any(|v| present(v)),
                    (CompareOp::Ne, _) => !any(CompareOp::Eq),
                    (op, _) => any(*op),
                }
            }
            Filter::Present(path) => scope.values(path, target).iter().any(|v| present(v)),
            Filter::And(a, b) => a.eval(scope, target) && b.eval(scope, target),
            Filter::Or(a, b) => a.eval(scope, target) || b.eval(scope, target),
            Filter::Not(a) => !a.eval(scope, target),
            Filter::ValuePath { path, filter } => {
                let Scope::Resource(schema) = scope else {
                    return false;
                };
                let Some(resolved) = schema.resolve(path.urn.as_deref(), &path.name, None) else {
                    return false;
                };
                let container = match resolved.container {
                    Some(urn) => target.get(urn),
                    None => Some(target),
                };
                let Some(value) = container.and_then(|c| c.get(resolved.attr.name)) else {
                    return false;
                };
                let inner = Scope::Element(resolved.attr);
                match value {
                    Value::Array(items) => items.iter().any(|item| filter.eval(&inner, item)),
                    other => filter.eval(&inner, other),
                }
            }
        }
    }
}

fn unknown(path: &AttrPath) -> String {
    let mut name = String::new();
    if let Some(urn) = &path.urn {
        name.push_str(urn);
        name.push(':');
    }
    name.push_str(&path.name);
    if let Some(sub) = &path.sub {
        name.push('.');
        name.push_str(sub);
    }
    format!("unknown attribute {name}")
}

/// Where filter paths are resolved: on a whole resource, or on one value of a complex attribute.
enum Scope<'a> {
    Resource(&'a ResourceSchema),
    Element(&'a Attr),
}

impl Scope<'_> {
    fn attr(&self, path: &AttrPath) -> Option<&Attr> {
        match self {
            Scope::Resource(schema) => schema
                .resolve(path.urn.as_deref(), &path.name, None)
                .map(|r| r.attr),
            Scope::Element(_) => None,
        }
    }

    /// The definition compared against: the sub-attribute, or `value` of a complex attribute.
    fn leaf(&self, path: &AttrPath) -> Option<&Attr> {
        match self {
            Scope::Resource(schema) => {
                let r = schema.resolve(path.urn.as_deref(), &path.name, path.sub.as_deref())?;
                match r.sub {
                    Some(sub) => Some(sub),
                    None if r.attr.kind == Kind::Complex => r.attr.sub_attr("value"),
                    None => Some(r.attr),
                }
            }
            Scope::Element(parent) => {
                if path.urn.is_some() || path.sub.is_some() {
                    return None;
                }
                parent.sub_attr(&path.name)
            }
        }
    }

    fn values<'v>(&self, path: &AttrPath, target: &'v Value) -> Vec<&'v Value> {
        match self {
            Scope::Resource(schema) => {
                let Some(r) = schema.resolve(path.urn.as_deref(), &path.name, path.sub.as_deref())
                else {
                    return Vec::new();
                };
                let container = match r.container {
                    Some(urn) => target.get(urn),
                    None => Some(target),
                };
                let Some(value) = container.and_then(|c| c.get(r.attr.name)) else {
                    return Vec::new();
                };
                let sub = match r.sub {
                    Some(sub) => Some(sub.name),
                    None if r.attr.kind == Kind::Complex => Some("value"),
                    None => None,
                };
                let items: Vec<&Value> = match value {
                    Value::Array(items) => items.iter().collect(),
                    other => vec![other],
                };
                match sub {
                    Some(sub) => items.into_iter().filter_map(|i| i.get(sub)).collect(),
                    None => items,
                }
            }
            Scope::Element(parent) => parent
                .sub_attr(&path.name)
                .and_then(|sub| target.get(sub.name))
                .into_iter()
                .collect(),
        }
    }
}

fn check_comparison(leaf: &Attr, op: CompareOp, value: &Value) -> Result<(), String> {
    let name = leaf.name;
    if value.is_null() {
        return match op {
            CompareOp::Eq | CompareOp::Ne => Ok(()),
            _ => Err(format!("{name}: only eq and ne compare with null")),
        };
    }
    match leaf.kind {
        Kind::Boolean => match (op, value) {
            (CompareOp::Eq | CompareOp::Ne, Value::Bool(_)) => Ok(()),
            (CompareOp::Eq | CompareOp::Ne, _) => {
                Err(format!("{name} compares with true or false"))
            }
            _ => Err(format!("{name} is a boolean: only eq and ne apply")),
        },
        Kind::String | Kind::Reference => match value {
            Value::String(_) => Ok(()),
            _ => Err(format!("{name} compares with a quoted string")),
        },
        Kind::DateTime => match (op, value.as_str().and_then(parse_date_time)) {
            (CompareOp::Co | CompareOp::Sw | CompareOp::Ew, _) => {
                Err(format!("{name} is a dateTime: co, sw and ew do not apply"))
            }
            (_, Some(_)) => Ok(()),
            (_, None) => Err(format!("{name} compares with a quoted xsd:dateTime")),
        },
        Kind::Complex => Err(format!("{name} is complex: name a sub-attribute")),
    }
}

fn present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

fn compare(leaf: &Attr, op: CompareOp, actual: &Value, expected: &Value) -> bool {
    match (leaf.kind, actual, expected) {
        (Kind::Boolean, Value::Bool(a), Value::Bool(b)) => op == CompareOp::Eq && a == b,
        (Kind::DateTime, Value::String(a), Value::String(b)) => {
            match (parse_date_time(a), parse_date_time(b)) {
                (Some(a), Some(b)) => ordered(op, a.cmp(&b)),
                _ => false,
            }
        }
        (Kind::String | Kind::Reference, Value::String(a), Value::String(b)) => {
            let (a, b) = if leaf.case_exact {
                (a.clone(), b.clone())
            } else {
                (a.to_lowercase(), b.to_lowercase())
            };
            match op {
                CompareOp::Co => a.contains(&b),
                CompareOp::Sw => a.starts_with(&b),
                CompareOp::Ew => a.ends_with(&b),
                _ => ordered(op, a.cmp(&b)),
            }
        }
        _ => false,
    }
}

fn ordered(op: CompareOp, ord: Ordering) -> bool {
    match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::Ne => ord != Ordering::Equal,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::Ge => ord != Ordering::Less,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::Le => ord != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::schema::{ENTERPRISE_USER, Profile, ResourceKind};
    use super::*;
    use serde_json::json;

    fn users() -> ResourceSchema {
        ResourceSchema::new(Profile::Extended, ResourceKind::User)
    }

    fn alice() -> Value {
        json!({
            "id": "id-1",
            "userName": "Alice@Example.se",
            "externalId": "E100",
            "displayName": "Alice Andersson",
            "active": true,
            "emails": [
                {"value": "alice@home.se", "type": "home"},
                {"value": "Alice@Example.se", "type": "work", "primary": true}
            ],
            "meta": {"lastModified": "2024-05-01T10:00:00Z"},
            ENTERPRISE_USER: {"manager": {"value": "id-9"}},
        })
    }

    fn eval(text: &str) -> bool {
        let schema = users();
        let filter = Filter::parse(text).unwrap();
        filter.check(&schema).unwrap();
        filter.matches(&schema, &alice())
    }

    #[test]
    fn a_filter_nested_too_deep_is_refused_not_a_stack_overflow() {
        let deep = format!(
            "{}userName eq \"x\"{}",
            "(".repeat(50_000),
            ")".repeat(50_000)
        );
        let error = Filter::parse(&deep).unwrap_err();
        assert_eq!(error.status, 400);
        let nots = format!("{}userName eq \"x\"", "not ".repeat(10_000));
        assert!(Filter::parse(&nots).is_err());
        let fine = format!("{}userName eq \"x\"{}", "(".repeat(10), ")".repeat(10));
        assert!(Filter::parse(&fine).is_ok());
    }

    #[test]
    fn parses_precedence_and_grouping() {
        let f = Filter::parse(r#"a eq "1" or b eq "2" and not (c pr)"#).unwrap();
        let Filter::Or(left, right) = f else {
            panic!("or binds loosest: {f:?}")
        };
        assert!(matches!(
            *left,
            Filter::Compare {
                op: CompareOp::Eq,
                ..
            }
        ));
        let Filter::And(_, not) = *right else {
            panic!("and binds tighter than or")
        };
        assert!(matches!(*not, Filter::Not(_)));
    }

    #[test]
    fn parses_urn_paths_and_escaped_strings() {
        let f = Filter::parse(&format!(r#"{ENTERPRISE_USER}:manager.value eq "a\"b""#)).unwrap();
        assert_eq!(
            f,
            Filter::Compare {
                path: AttrPath {
                    urn: Some(ENTERPRISE_USER.to_string()),
                    name: "manager".to_string(),
                    sub: Some("value".to_string()),
                },
                op: CompareOp::Eq,
                value: json!("a\"b"),
            }
        );
    }

    #[test]
    fn rejects_bad_syntax_as_invalid_filter() {
        for text in [
            "",
            "userName eq",
            "userName equals \"a\"",
            "userName eq unquoted",
            "(userName pr",
            "userName eq \"a\" extra",
            "emails[type eq \"work\"",
            "userName eq \"open",
            "1abc pr",
        ] {
            let err = Filter::parse(text).unwrap_err();
            assert_eq!(
                err.scim_type,
                Some(super::super::error::ScimType::InvalidFilter),
                "{text}"
            );
            assert_eq!(err.status, 400);
        }
    }

    #[test]
    fn check_rejects_unknown_attributes_and_mismatched_values() {
        let schema = users();
        for text in [
            "nickName eq \"a\"",
            "active eq \"true\"",
            "active gt true",
            "userName eq true",
            "meta.lastModified co \"2024\"",
            "meta.lastModified gt \"yesterday\"",
            "name eq \"x\"",
        ] {
            let err = Filter::parse(text).unwrap().check(&schema).unwrap_err();
            assert_eq!(
                err.scim_type,
                Some(super::super::error::ScimType::InvalidFilter),
                "{text}"
            );
        }
    }

    #[test]
    fn user_name_is_case_insensitive_external_id_and_id_are_not() {
        assert!(eval(r#"userName eq "alice@example.se""#));
        assert!(eval(r#"USERNAME Eq "ALICE@EXAMPLE.SE""#));
        assert!(eval(r#"externalId eq "E100""#));
        assert!(!eval(r#"externalId eq "e100""#));
        assert!(eval(r#"id eq "id-1""#));
        assert!(!eval(r#"id eq "ID-1""#));
    }

    #[test]
    fn string_operators() {
        assert!(eval(r#"displayName co "anders""#));
        assert!(eval(r#"displayName sw "alice""#));
        assert!(eval(r#"displayName ew "SSON""#));
        assert!(!eval(r#"displayName sw "anders""#));
        assert!(eval(r#"displayName ne "Bob""#));
        assert!(!eval(r#"displayName ne "alice andersson""#));
        assert!(eval(r#"userName gt "aaa" and userName lt "b""#));
    }

    #[test]
    fn multi_valued_and_value_paths() {
        assert!(eval(r#"emails.value eq "alice@home.se""#));
        assert!(eval(r#"emails co "home""#));
        assert!(eval(r#"emails[type eq "work" and primary eq true]"#));
        assert!(!eval(r#"emails[type eq "other"]"#));
        assert!(!eval(r#"emails[type eq "home" and primary eq true]"#));
    }

    #[test]
    fn booleans_presence_logic_and_dates() {
        assert!(eval("active eq true"));
        assert!(!eval("active eq false"));
        assert!(eval("externalId pr"));
        assert!(!eval("name.givenName pr"));
        assert!(eval("not (name.givenName pr)"));
        assert!(eval(
            r#"(externalId eq "x" or externalId eq "E100") and active eq true"#
        ));
        assert!(eval(r#"meta.lastModified gt "2024-04-30T23:59:59Z""#));
        assert!(eval(r#"meta.lastModified ge "2024-05-01T12:00:00+02:00""#));
        assert!(!eval(r#"meta.lastModified lt "2024-05-01T10:00:00Z""#));
        assert!(eval(&format!(
            r#"{ENTERPRISE_USER}:manager.value eq "id-9""#
        )));
        assert!(eval("externalId ne null"));
        assert!(eval("name.givenName eq null"));
        assert!(!eval("externalId eq null"));
    }
}
