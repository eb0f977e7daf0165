//! Reading a policy's text form, with the kernel's rules and a few stricter ones (defaults
//! before rules, each default once, hex digests of the algorithm's length), so that a
//! policy `stela ipe check` accepts is one the kernel loads as meant.

use crate::policy::{Action, Op, Policy, PolicyName, Property, Rule, Version};

/// The largest policy text read (the kernel takes a page-sized write per line but no
/// total; a policy of more than this is not one stela or a person wrote).
pub const MAX_POLICY_BYTES: usize = 1 << 20;

/// Why a policy's text was refused; `line` counts from 1.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    /// The text is larger than [`MAX_POLICY_BYTES`].
    #[error("the policy is {size} bytes, more than the limit of {limit} (MAX_POLICY_BYTES)")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The text is not UTF-8 (the kernel's grammar is ASCII).
    #[error("the policy is not text (not UTF-8)")]
    NotText,
    /// No header line.
    #[error("the policy is empty: it needs the line `policy_name=NAME policy_version=X.Y.Z`")]
    Empty,
    /// A line the grammar does not allow, with what is wrong.
    #[error("line {line}: {problem}")]
    Line {
        /// The line number.
        line: usize,
        /// What is wrong, naming the token.
        problem: String,
    },
    /// An operation has neither a default of its own nor a global one: the kernel
    /// refuses such a policy.
    #[error("no default action for op={op}: add `DEFAULT action=DENY` (or `DEFAULT op={op} action=...`)")]
    NoDefault {
        /// The operation's keyword.
        op: &'static str,
    },
}

fn line_error(line: usize, problem: impl Into<String>) -> ParseError {
    ParseError::Line {
        line,
        problem: problem.into(),
    }
}

impl Policy {
    /// Parse and check a policy's text.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Policy, ParseError> {
        if bytes.len() > MAX_POLICY_BYTES {
            return Err(ParseError::TooLarge {
                size: bytes.len(),
                limit: MAX_POLICY_BYTES,
            });
        }
        let text = std::str::from_utf8(bytes).map_err(|_| ParseError::NotText)?;
        Policy::parse(text)
    }

    /// Parse and check a policy's text.
    pub fn parse(text: &str) -> Result<Policy, ParseError> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(ParseError::TooLarge {
                size: text.len(),
                limit: MAX_POLICY_BYTES,
            });
        }
        let mut lines = text
            .split('\n')
            .enumerate()
            .map(|(i, l)| (i + 1, l.split('#').next().unwrap_or("").trim()))
            .filter(|(_, l)| !l.is_empty());
        let (first, header) = lines.next().ok_or(ParseError::Empty)?;
        let (name, version) = parse_header(first, header)?;
        let mut policy = Policy {
            name,
            version,
            default: None,
            op_defaults: Vec::new(),
            rules: Vec::new(),
        };
        for (n, line) in lines {
            let tokens: Vec<&str> = line.split_whitespace().collect();
            if tokens[0] == "DEFAULT" {
                if !policy.rules.is_empty() {
                    return Err(line_error(n, "a DEFAULT line after the first rule"));
                }
                parse_default(n, &tokens[1..], &mut policy)?;
            } else {
                policy.rules.push(parse_rule(n, &tokens)?);
            }
        }
        if let Some(op) = Op::ALL
            .into_iter()
            .find(|op| policy.default_for(*op).is_none())
        {
            return Err(ParseError::NoDefault { op: op.keyword() });
        }
        Ok(policy)
    }
}

fn key_value(n: usize, token: &str) -> Result<(&str, &str), ParseError> {
    token
        .split_once('=')
        .ok_or_else(|| line_error(n, format!("`{token}` is not KEY=VALUE")))
}

fn parse_header(n: usize, line: &str) -> Result<(PolicyName, Version), ParseError> {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let [name, version] = tokens.as_slice() else {
        return Err(line_error(
            n,
            "the first line must be exactly `policy_name=NAME policy_version=X.Y.Z`",
        ));
    };
    let name = match key_value(n, name)? {
        ("policy_name", v) => PolicyName::new(v).ok_or_else(|| {
            line_error(
                n,
                format!("policy_name `{v}`: 1 to 64 letters, digits, `_`, `-` or `.`"),
            )
        })?,
        (k, _) => return Err(line_error(n, format!("`{k}` where policy_name= belongs"))),
    };
    let version = match key_value(n, version)? {
        ("policy_version", v) => parse_version(v).ok_or_else(|| {
            line_error(
                n,
                format!("policy_version `{v}`: three numbers of 0 to 65535, as 1.0.0"),
            )
        })?,
        (k, _) => {
            return Err(line_error(
                n,
                format!("`{k}` where policy_version= belongs"),
            ))
        }
    };
    Ok((name, version))
}

fn parse_version(v: &str) -> Option<Version> {
    let parts: Vec<&str> = v.split('.').collect();
    let [a, b, c] = parts.as_slice() else {
        return None;
    };
    let num = |s: &str| {
        (!s.is_empty() && s.chars().all(|c| c.is_ascii_digit()))
            .then(|| s.parse::<u16>().ok())
            .flatten()
    };
    Some(Version {
        major: num(a)?,
        minor: num(b)?,
        revision: num(c)?,
    })
}

fn parse_action(n: usize, token: &str) -> Result<Action, ParseError> {
    match key_value(n, token)? {
        ("action", "ALLOW") => Ok(Action::Allow),
        ("action", "DENY") => Ok(Action::Deny),
        ("action", v) => Err(line_error(n, format!("action `{v}`: ALLOW or DENY"))),
        (k, _) => Err(line_error(
            n,
            format!("`{k}=` where the line's last token, action=, belongs"),
        )),
    }
}

fn parse_op(n: usize, token: &str) -> Result<Op, ParseError> {
    match key_value(n, token)? {
        ("op", v) => Op::from_keyword(v).ok_or_else(|| {
            let known: Vec<&str> = Op::ALL.iter().map(|o| o.keyword()).collect();
            line_error(n, format!("op `{v}`: one of {}", known.join(", ")))
        }),
        (k, _) => Err(line_error(
            n,
            format!("`{k}=` where a rule's first token, op=, belongs"),
        )),
    }
}

fn parse_default(n: usize, tokens: &[&str], policy: &mut Policy) -> Result<(), ParseError> {
    match tokens {
        [action] => {
            let action = parse_action(n, action)?;
            if policy.default.is_some() {
                return Err(line_error(n, "a second `DEFAULT action=` line"));
            }
            policy.default = Some(action);
        }
        [op, action] => {
            let op = parse_op(n, op)?;
            let action = parse_action(n, action)?;
            if policy.op_defaults.iter().any(|(o, _)| *o == op) {
                return Err(line_error(
                    n,
                    format!("a second default for op={}", op.keyword()),
                ));
            }
            policy.op_defaults.push((op, action));
        }
        _ => {
            return Err(line_error(
                n,
                "DEFAULT takes `action=` or `op=OP action=` and nothing else",
            ))
        }
    }
    Ok(())
}

fn parse_rule(n: usize, tokens: &[&str]) -> Result<Rule, ParseError> {
    let [first, middle @ .., last] = tokens else {
        return Err(line_error(
            n,
            "a rule needs at least `op=OP action=ALLOW|DENY`",
        ));
    };
    let op = parse_op(n, first)?;
    let action = parse_action(n, last)?;
    let properties = middle
        .iter()
        .map(|t| parse_property(n, t))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Rule {
        op,
        properties,
        action,
    })
}

fn parse_bool(n: usize, key: &str, v: &str) -> Result<bool, ParseError> {
    match v {
        "TRUE" => Ok(true),
        "FALSE" => Ok(false),
        _ => Err(line_error(n, format!("{key} `{v}`: TRUE or FALSE"))),
    }
}

fn parse_digest(n: usize, key: &str, v: &str) -> Result<(String, String), ParseError> {
    let (alg, hex) = v
        .split_once(':')
        .ok_or_else(|| line_error(n, format!("{key} `{v}`: ALGORITHM:HEX, as sha256:...")))?;
    let len = match alg {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => {
            return Err(line_error(
                n,
                format!("{key} algorithm `{alg}`: sha256, sha384 or sha512"),
            ))
        }
    };
    if hex.len() != len || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(line_error(
            n,
            format!("{key} `{v}`: {len} hex digits after `{alg}:`"),
        ));
    }
    Ok((alg.to_owned(), hex.to_ascii_lowercase()))
}

fn parse_property(n: usize, token: &str) -> Result<Property, ParseError> {
    let (k, v) = key_value(n, token)?;
    Ok(match k {
        "boot_verified" => Property::BootVerified(parse_bool(n, k, v)?),
        "dmverity_signature" => Property::DmveritySignature(parse_bool(n, k, v)?),
        "fsverity_signature" => Property::FsveritySignature(parse_bool(n, k, v)?),
        "dmverity_roothash" => {
            let (algorithm, hex) = parse_digest(n, k, v)?;
            Property::DmverityRoothash { algorithm, hex }
        }
        "fsverity_digest" => {
            let (algorithm, hex) = parse_digest(n, k, v)?;
            Property::FsverityDigest { algorithm, hex }
        }
        "op" | "action" => {
            return Err(line_error(
                n,
                format!("`{k}=` in the middle of a rule: op= comes first, action= last"),
            ))
        }
        _ => {
            return Err(line_error(
                n,
                format!("unknown property `{k}`: boot_verified, dmverity_signature, dmverity_roothash, fsverity_signature or fsverity_digest"),
            ))
        }
    })
}

/// Parse one rule line as a recipe's `ipe.extra_rules` gives it.
impl Rule {
    /// Parse `op=OP [property=value...] action=ALLOW|DENY`.
    pub fn parse(line: &str) -> Result<Rule, ParseError> {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        if tokens.first() == Some(&"DEFAULT") {
            return Err(line_error(1, "a DEFAULT line is not a rule"));
        }
        parse_rule(1, &tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{image_policy, Stage};

    #[test]
    fn the_image_policies_read_back_as_written() {
        for stage in [Stage::Initrd, Stage::Host] {
            let p = image_policy(
                stage,
                &[Rule::parse("op=EXECUTE fsverity_signature=TRUE action=ALLOW").unwrap()],
            );
            assert_eq!(Policy::parse(&p.to_text()), Ok(p));
        }
    }

    #[test]
    fn comments_blank_lines_and_per_op_defaults_are_read() {
        let text = "# a comment\n\npolicy_name=t policy_version=0.1.65535 # trailing\n\
                    DEFAULT op=EXECUTE action=DENY\nDEFAULT action=ALLOW\n\
                    op=EXECUTE dmverity_roothash=sha256:AB01ab01ab01ab01ab01ab01ab01ab01ab01ab01ab01ab01ab01ab01ab01ab01 action=ALLOW\n";
        let p = Policy::parse(text).expect("parses");
        assert_eq!(p.version.revision, 65535);
        assert_eq!(p.default_for(Op::Execute), Some(Action::Deny));
        assert_eq!(p.default_for(Op::Kmodule), Some(Action::Allow));
        // Hex is kept lowercase, as the kernel compares it.
        assert!(p.to_text().contains("sha256:ab01ab01"));
    }

    #[test]
    fn bad_policies_are_refused_naming_the_line_and_token() {
        let head = "policy_name=t policy_version=1.0.0\nDEFAULT action=DENY\n";
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("policy_name=t\n", "exactly"),
            (
                "policy_version=1.0.0 policy_name=t\n",
                "policy_name= belongs",
            ),
            (
                "policy_name=a/b policy_version=1.0.0\n",
                "policy_name `a/b`",
            ),
            ("policy_name=t policy_version=1.0\n", "policy_version `1.0`"),
            ("policy_name=t policy_version=1.0.65536\n", "policy_version"),
            (
                "policy_name=t policy_version=1.0.0\n",
                "no default action for op=EXECUTE",
            ),
            (
                "policy_name=t policy_version=1.0.0\nDEFAULT op=EXECUTE action=DENY\n",
                "op=FIRMWARE",
            ),
        ];
        for (text, want) in cases {
            let err = Policy::parse(text).expect_err(text).to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
        let rules: &[(&str, &str)] = &[
            ("op=EXEC action=ALLOW", "line 3: op `EXEC`"),
            ("op=EXECUTE action=MAYBE", "action `MAYBE`"),
            ("op=EXECUTE", "at least"),
            ("action=ALLOW op=EXECUTE", "op=, belongs"),
            (
                "op=EXECUTE dmverity_signature=yes action=ALLOW",
                "TRUE or FALSE",
            ),
            (
                "op=EXECUTE dmverity_roothash=sha256:abc action=ALLOW",
                "64 hex digits",
            ),
            (
                "op=EXECUTE dmverity_roothash=md5:00 action=ALLOW",
                "algorithm `md5`",
            ),
            (
                "op=EXECUTE path=/usr action=ALLOW",
                "unknown property `path`",
            ),
            ("op=EXECUTE boot_verified action=ALLOW", "not KEY=VALUE"),
            (
                "op=EXECUTE action=DENY\nDEFAULT op=KMODULE action=DENY",
                "line 4: a DEFAULT line after",
            ),
            ("DEFAULT action=ALLOW", "second `DEFAULT action=`"),
        ];
        for (rule, want) in rules {
            let text = format!("{head}{rule}\n");
            let err = Policy::parse(&text).expect_err(rule).to_string();
            assert!(err.contains(want), "{rule:?}: {err}");
        }
        let big = format!("{head}{}", "#".repeat(MAX_POLICY_BYTES));
        assert!(matches!(
            Policy::parse(&big),
            Err(ParseError::TooLarge { .. })
        ));
        assert_eq!(Policy::parse_bytes(&[0xff, 0xfe]), Err(ParseError::NotText));
        assert!(Rule::parse("DEFAULT action=DENY").is_err());
    }
}
