//! Condition operator names: the base operator, the `IfExists` suffix and the
//! `ForAllValues:` / `ForAnyValue:` set qualifiers (IAM JSON policy reference, "Condition operators").

use std::fmt;

/// The operator proper, without suffix or qualifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BaseOp {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
}

/// The value type an operator compares in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    String,
    StringIgnoreCase,
    StringLike,
    Numeric,
    Date,
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

/// How a numeric or date comparison orders the request value against the policy value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ordering {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Ordering {
    pub fn holds<T: PartialOrd>(self, request: T, policy: T) -> bool {
        match self {
            Ordering::Eq => request == policy,
            Ordering::Lt => request < policy,
            Ordering::Le => request <= policy,
            Ordering::Gt => request > policy,
            Ordering::Ge => request >= policy,
        }
    }
}

const ALL: [(BaseOp, &str); 27] = [
    (BaseOp::StringEquals, "StringEquals"),
    (BaseOp::StringNotEquals, "StringNotEquals"),
    (BaseOp::StringEqualsIgnoreCase, "StringEqualsIgnoreCase"),
    (
        BaseOp::StringNotEqualsIgnoreCase,
        "StringNotEqualsIgnoreCase",
    ),
    (BaseOp::StringLike, "StringLike"),
    (BaseOp::StringNotLike, "StringNotLike"),
    (BaseOp::NumericEquals, "NumericEquals"),
    (BaseOp::NumericNotEquals, "NumericNotEquals"),
    (BaseOp::NumericLessThan, "NumericLessThan"),
    (BaseOp::NumericLessThanEquals, "NumericLessThanEquals"),
    (BaseOp::NumericGreaterThan, "NumericGreaterThan"),
    (BaseOp::NumericGreaterThanEquals, "NumericGreaterThanEquals"),
    (BaseOp::DateEquals, "DateEquals"),
    (BaseOp::DateNotEquals, "DateNotEquals"),
    (BaseOp::DateLessThan, "DateLessThan"),
    (BaseOp::DateLessThanEquals, "DateLessThanEquals"),
    (BaseOp::DateGreaterThan, "DateGreaterThan"),
    (BaseOp::DateGreaterThanEquals, "DateGreaterThanEquals"),
    (BaseOp::Bool, "Bool"),
    (BaseOp::BinaryEquals, "BinaryEquals"),
    (BaseOp::IpAddress, "IpAddress"),
    (BaseOp::NotIpAddress, "NotIpAddress"),
    (BaseOp::ArnEquals, "ArnEquals"),
    (BaseOp::ArnLike, "ArnLike"),
    (BaseOp::ArnNotEquals, "ArnNotEquals"),
    (BaseOp::ArnNotLike, "ArnNotLike"),
    (BaseOp::Null, "Null"),
];

impl BaseOp {
    /// Operator names are case-insensitive in IAM; the canonical spelling is kept for display.
    pub fn from_name(name: &str) -> Option<BaseOp> {
        ALL.iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|(op, _)| *op)
    }

    pub fn name(self) -> &'static str {
        ALL.iter()
            .find(|(op, _)| *op == self)
            .map_or("Unknown", |(_, n)| n)
    }

    pub fn family(self) -> Family {
        use BaseOp::*;
        match self {
            StringEquals | StringNotEquals => Family::String,
            StringEqualsIgnoreCase | StringNotEqualsIgnoreCase => Family::StringIgnoreCase,
            StringLike | StringNotLike => Family::StringLike,
            NumericEquals
            | NumericNotEquals
            | NumericLessThan
            | NumericLessThanEquals
            | NumericGreaterThan
            | NumericGreaterThanEquals => Family::Numeric,
            DateEquals
            | DateNotEquals
            | DateLessThan
            | DateLessThanEquals
            | DateGreaterThan
            | DateGreaterThanEquals => Family::Date,
            Bool => Family::Bool,
            BinaryEquals => Family::Binary,
            IpAddress | NotIpAddress => Family::Ip,
            ArnEquals | ArnLike | ArnNotEquals | ArnNotLike => Family::Arn,
            Null => Family::Null,
        }
    }

    /// Negated operators succeed when no policy value matches.
    pub fn is_negated(self) -> bool {
        use BaseOp::*;
        matches!(
            self,
            StringNotEquals
                | StringNotEqualsIgnoreCase
                | StringNotLike
                | NumericNotEquals
                | DateNotEquals
                | NotIpAddress
                | ArnNotEquals
                | ArnNotLike
        )
    }

    /// The ordering numeric and date operators test (negated ones test equality, then negate).
    pub fn ordering(self) -> Ordering {
        use BaseOp::*;
        match self {
            NumericLessThan | DateLessThan => Ordering::Lt,
            NumericLessThanEquals | DateLessThanEquals => Ordering::Le,
            NumericGreaterThan | DateGreaterThan => Ordering::Gt,
            NumericGreaterThanEquals | DateGreaterThanEquals => Ordering::Ge,
            _ => Ordering::Eq,
        }
    }

    /// Whether policy variables are substituted in this operator's values.
    pub fn takes_variables(self) -> bool {
        matches!(
            self.family(),
            Family::String
                | Family::StringIgnoreCase
                | Family::StringLike
                | Family::Bool
                | Family::Arn
        )
    }

    /// Whether `*`/`?` are wildcards in this operator's values.
    pub fn takes_wildcards(self) -> bool {
        matches!(self.family(), Family::StringLike | Family::Arn)
    }
}

/// `ForAllValues:` or `ForAnyValue:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetQualifier {
    ForAllValues,
    ForAnyValue,
}

/// A full operator as written: qualifier, base operator, `IfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operator {
    pub base: BaseOp,
    pub if_exists: bool,
    pub qualifier: Option<SetQualifier>,
}

impl Operator {
    /// Parses e.g. `ForAnyValue:StringLikeIfExists`; `None` for an unknown operator.
    pub fn parse(name: &str) -> Option<Operator> {
        let (qualifier, rest) = match name.split_once(':') {
            Some((q, rest)) if q.eq_ignore_ascii_case("ForAllValues") => {
                (Some(SetQualifier::ForAllValues), rest)
            }
            Some((q, rest)) if q.eq_ignore_ascii_case("ForAnyValue") => {
                (Some(SetQualifier::ForAnyValue), rest)
            }
            Some(_) => return None,
            None => (None, name),
        };
        if let Some(base) = BaseOp::from_name(rest) {
            return Some(Operator {
                base,
                if_exists: false,
                qualifier,
            });
        }
        let cut = rest.len().checked_sub("IfExists".len())?;
        let (stem, suffix) = (rest.get(..cut)?, rest.get(cut..)?);
        if !suffix.eq_ignore_ascii_case("IfExists") {
            return None;
        }
        let base = BaseOp::from_name(stem)?;
        // `Null` takes no IfExists: its whole point is testing for absence.
        (base != BaseOp::Null).then_some(Operator {
            base,
            if_exists: true,
            qualifier,
        })
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.qualifier {
            Some(SetQualifier::ForAllValues) => f.write_str("ForAllValues:")?,
            Some(SetQualifier::ForAnyValue) => f.write_str("ForAnyValue:")?,
            None => {}
        }
        f.write_str(self.base.name())?;
        if self.if_exists {
            f.write_str("IfExists")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_operator_with_suffix_and_qualifiers() {
        for (op, name) in ALL {
            let parsed = Operator::parse(name).unwrap();
            assert_eq!(parsed.base, op);
            assert_eq!(parsed.to_string(), name);
            if op != BaseOp::Null {
                let with = Operator::parse(&format!("ForAnyValue:{name}IfExists")).unwrap();
                assert!(with.if_exists);
                assert_eq!(with.qualifier, Some(SetQualifier::ForAnyValue));
                assert_eq!(with.to_string(), format!("ForAnyValue:{name}IfExists"));
            }
        }
    }

    #[test]
    fn names_are_case_insensitive() {
        let op = Operator::parse("forallvalues:stringlikeifexists").unwrap();
        assert_eq!(op.base, BaseOp::StringLike);
        assert_eq!(op.qualifier, Some(SetQualifier::ForAllValues));
        assert!(op.if_exists);
    }

    #[test]
    fn rejects_unknown_operators() {
        for bad in [
            "StringEqual",
            "StringEqualsIfExist",
            "NullIfExists",
            "ForSomeValues:StringEquals",
            "IfExists",
            "",
            "ForAnyValue:",
        ] {
            assert_eq!(Operator::parse(bad), None, "{bad}");
        }
    }
}
