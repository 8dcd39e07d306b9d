//! Column metadata of a result set: the column-count packet that opens it,
//! [`ColumnType`] (the type codes every value in the text and binary
//! protocols is interpreted by), [`ColumnFlags`] and
//! [`ColumnDefinition41`], one packet per column.
//!
//! The proxy relays column definitions from backends to clients, reads the
//! types to decode binary rows ([`crate::row`], [`crate::value`]) and
//! builds its own for results it synthesises (admin port, merged
//! aggregates). Decoding borrows every string from the payload; encoding an
//! unchanged definition gives back the same bytes.
//!
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query_response_text_resultset_column_definition.html>
//! <https://mariadb.com/kb/en/result-set-packets/#column-definition-packet>

use crate::codec::{put_lenenc_bytes, put_lenenc_int, put_u16, put_u32, put_u8, Reader};
use crate::error::{ProtoError, Result};

/// A column or parameter type code (`enum_field_types` of the server).
///
/// <https://dev.mysql.com/doc/dev/mysql-server/latest/field__types_8h.html>
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnType {
    Decimal,
    Tiny,
    Short,
    Long,
    Float,
    Double,
    Null,
    Timestamp,
    LongLong,
    Int24,
    Date,
    Time,
    DateTime,
    Year,
    NewDate,
    VarChar,
    Bit,
    Timestamp2,
    DateTime2,
    Time2,
    /// MySQL 9 `VECTOR` (0xf2).
    Vector,
    Json,
    NewDecimal,
    Enum,
    Set,
    TinyBlob,
    MediumBlob,
    LongBlob,
    Blob,
    VarString,
    String,
    Geometry,
    /// A code this crate does not know; kept so it round-trips.
    Unknown(u8),
}

impl ColumnType {
    /// The type for a wire code. Total: unknown codes become [`ColumnType::Unknown`].
    pub const fn from_u8(code: u8) -> ColumnType {
        match code {
            0x00 => ColumnType::Decimal,
            0x01 => ColumnType::Tiny,
            0x02 => ColumnType::Short,
            0x03 => ColumnType::Long,
            0x04 => ColumnType::Float,
            0x05 => ColumnType::Double,
            0x06 => ColumnType::Null,
            0x07 => ColumnType::Timestamp,
            0x08 => ColumnType::LongLong,
            0x09 => ColumnType::Int24,
            0x0a => ColumnType::Date,
            0x0b => ColumnType::Time,
            0x0c => ColumnType::DateTime,
            0x0d => ColumnType::Year,
            0x0e => ColumnType::NewDate,
            0x0f => ColumnType::VarChar,
            0x10 => ColumnType::Bit,
            0x11 => ColumnType::Timestamp2,
            0x12 => ColumnType::DateTime2,
            0x13 => ColumnType::Time2,
            0xf2 => ColumnType::Vector,
            0xf5 => ColumnType::Json,
            0xf6 => ColumnType::NewDecimal,
            0xf7 => ColumnType::Enum,
            0xf8 => ColumnType::Set,
            0xf9 => ColumnType::TinyBlob,
            0xfa => ColumnType::MediumBlob,
            0xfb => ColumnType::LongBlob,
            0xfc => ColumnType::Blob,
            0xfd => ColumnType::VarString,
            0xfe => ColumnType::String,
            0xff => ColumnType::Geometry,
            other => ColumnType::Unknown(other),
        }
    }

    /// The wire code.
    pub const fn to_u8(self) -> u8 {
        match self {
            ColumnType::Decimal => 0x00,
            ColumnType::Tiny => 0x01,
            ColumnType::Short => 0x02,
            ColumnType::Long => 0x03,
            ColumnType::Float => 0x04,
            ColumnType::Double => 0x05,
            ColumnType::Null => 0x06,
            ColumnType::Timestamp => 0x07,
            ColumnType::LongLong => 0x08,
            ColumnType::Int24 => 0x09,
            ColumnType::Date => 0x0a,
            ColumnType::Time => 0x0b,
            ColumnType::DateTime => 0x0c,
            ColumnType::Year => 0x0d,
            ColumnType::NewDate => 0x0e,
            ColumnType::VarChar => 0x0f,
            ColumnType::Bit => 0x10,
            ColumnType::Timestamp2 => 0x11,
            ColumnType::DateTime2 => 0x12,
            ColumnType::Time2 => 0x13,
            ColumnType::Vector => 0xf2,
            ColumnType::Json => 0xf5,
            ColumnType::NewDecimal => 0xf6,
            ColumnType::Enum => 0xf7,
            ColumnType::Set => 0xf8,
            ColumnType::TinyBlob => 0xf9,
            ColumnType::MediumBlob => 0xfa,
            ColumnType::LongBlob => 0xfb,
            ColumnType::Blob => 0xfc,
            ColumnType::VarString => 0xfd,
            ColumnType::String => 0xfe,
            ColumnType::Geometry => 0xff,
            ColumnType::Unknown(code) => code,
        }
    }

    /// TINY, SHORT, LONG, LONGLONG, INT24, YEAR: values are integers.
    pub const fn is_integer(self) -> bool {
        matches!(
            self,
            ColumnType::Tiny
                | ColumnType::Short
                | ColumnType::Long
                | ColumnType::LongLong
                | ColumnType::Int24
                | ColumnType::Year
        )
    }

    /// FLOAT, DOUBLE.
    pub const fn is_float(self) -> bool {
        matches!(self, ColumnType::Float | ColumnType::Double)
    }

    /// DECIMAL, NEWDECIMAL: exact numbers carried as text.
    pub const fn is_decimal(self) -> bool {
        matches!(self, ColumnType::Decimal | ColumnType::NewDecimal)
    }

    /// DATE, DATETIME, TIMESTAMP (and their internal variants): values are
    /// [`crate::value::Value::Date`].
    pub const fn is_date(self) -> bool {
        matches!(
            self,
            ColumnType::Date
                | ColumnType::NewDate
                | ColumnType::DateTime
                | ColumnType::DateTime2
                | ColumnType::Timestamp
                | ColumnType::Timestamp2
        )
    }

    /// TIME (and TIME2): values are [`crate::value::Value::Time`].
    pub const fn is_time(self) -> bool {
        matches!(self, ColumnType::Time | ColumnType::Time2)
    }
}

impl From<u8> for ColumnType {
    fn from(code: u8) -> Self {
        ColumnType::from_u8(code)
    }
}

impl From<ColumnType> for u8 {
    fn from(t: ColumnType) -> u8 {
        t.to_u8()
    }
}

/// Column definition flags (`*_FLAG` in `mysql_com.h`); unknown bits survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ColumnFlags(pub u16);

impl ColumnFlags {
    pub const NOT_NULL: ColumnFlags = ColumnFlags(1);
    pub const PRI_KEY: ColumnFlags = ColumnFlags(1 << 1);
    pub const UNIQUE_KEY: ColumnFlags = ColumnFlags(1 << 2);
    pub const MULTIPLE_KEY: ColumnFlags = ColumnFlags(1 << 3);
    pub const BLOB: ColumnFlags = ColumnFlags(1 << 4);
    pub const UNSIGNED: ColumnFlags = ColumnFlags(1 << 5);
    pub const ZEROFILL: ColumnFlags = ColumnFlags(1 << 6);
    pub const BINARY: ColumnFlags = ColumnFlags(1 << 7);
    pub const ENUM: ColumnFlags = ColumnFlags(1 << 8);
    pub const AUTO_INCREMENT: ColumnFlags = ColumnFlags(1 << 9);
    pub const TIMESTAMP: ColumnFlags = ColumnFlags(1 << 10);
    pub const SET: ColumnFlags = ColumnFlags(1 << 11);
    pub const NO_DEFAULT_VALUE: ColumnFlags = ColumnFlags(1 << 12);
    pub const ON_UPDATE_NOW: ColumnFlags = ColumnFlags(1 << 13);
    pub const PART_KEY: ColumnFlags = ColumnFlags(1 << 14);
    pub const NUM: ColumnFlags = ColumnFlags(1 << 15);

    pub const fn bits(self) -> u16 {
        self.0
    }

    pub const fn contains(self, other: ColumnFlags) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn insert(&mut self, other: ColumnFlags) {
        self.0 |= other.0;
    }

    pub fn remove(&mut self, other: ColumnFlags) {
        self.0 &= !other.0;
    }
}

impl std::ops::BitOr for ColumnFlags {
    type Output = ColumnFlags;
    fn bitor(self, rhs: Self) -> Self {
        ColumnFlags(self.0 | rhs.0)
    }
}

/// Length of the fixed-size block of a column definition, announced by a
/// lenenc integer before it.
pub const FIXED_FIELDS_LEN: u64 = 0x0c;

/// One `Protocol::ColumnDefinition41` packet.
///
/// MariaDB's extended type metadata (sent only with
/// `MARIADB_CLIENT_EXTENDED_METADATA`, which shardgate never announces) is
/// not decoded. Bytes after the filler (the default value `COM_FIELD_LIST`
/// adds) are kept in `trailing` so a relayed packet re-encodes unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnDefinition41<'a> {
    /// Always `def`.
    pub catalog: &'a [u8],
    pub schema: &'a [u8],
    /// Table alias.
    pub table: &'a [u8],
    pub org_table: &'a [u8],
    /// Column alias.
    pub name: &'a [u8],
    pub org_name: &'a [u8],
    /// Collation id of the values.
    pub character_set: u16,
    /// Maximum display length.
    pub column_length: u32,
    pub column_type: ColumnType,
    pub flags: ColumnFlags,
    /// 0x00 for integers and static strings, 0x1f for dynamic strings and
    /// floats without fixed decimals, 0..=0x51 for decimals, 0..=6 for the
    /// fractional seconds of temporal types.
    pub decimals: u8,
    /// Two reserved bytes, normally zero.
    pub filler: [u8; 2],
    /// Anything after the filler.
    pub trailing: &'a [u8],
}

impl<'a> ColumnDefinition41<'a> {
    /// A definition for a synthesised result column: catalog `def`, no
    /// schema or table, `name` as both alias and original name.
    pub fn new(name: &'a [u8], column_type: ColumnType, character_set: u16) -> Self {
        ColumnDefinition41 {
            catalog: b"def",
            schema: b"",
            table: b"",
            org_table: b"",
            name,
            org_name: name,
            character_set,
            column_length: 0,
            column_type,
            flags: ColumnFlags::default(),
            decimals: 0,
            filler: [0, 0],
            trailing: b"",
        }
    }

    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query_response_text_resultset_column_definition.html>
    pub fn decode(payload: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(payload);
        let catalog = r.lenenc_bytes("column definition: catalog")?;
        let schema = r.lenenc_bytes("column definition: schema")?;
        let table = r.lenenc_bytes("column definition: table")?;
        let org_table = r.lenenc_bytes("column definition: org_table")?;
        let name = r.lenenc_bytes("column definition: name")?;
        let org_name = r.lenenc_bytes("column definition: org_name")?;
        let fixed = r.lenenc_int("column definition: length of fixed fields")?;
        if fixed != FIXED_FIELDS_LEN {
            return Err(ProtoError::Invalid {
                what: "column definition: length of fixed fields",
            });
        }
        let character_set = r.u16("column definition: character set")?;
        let column_length = r.u32("column definition: column length")?;
        let column_type = ColumnType::from_u8(r.u8("column definition: type")?);
        let flags = ColumnFlags(r.u16("column definition: flags")?);
        let decimals = r.u8("column definition: decimals")?;
        let f = r.take(2, "column definition: filler")?;
        let filler = [f[0], f[1]];
        let trailing = r.rest();
        Ok(ColumnDefinition41 {
            catalog,
            schema,
            table,
            org_table,
            name,
            org_name,
            character_set,
            column_length,
            column_type,
            flags,
            decimals,
            filler,
            trailing,
        })
    }

    /// Appends the packet payload to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_lenenc_bytes(out, self.catalog);
        put_lenenc_bytes(out, self.schema);
        put_lenenc_bytes(out, self.table);
        put_lenenc_bytes(out, self.org_table);
        put_lenenc_bytes(out, self.name);
        put_lenenc_bytes(out, self.org_name);
        put_lenenc_int(out, FIXED_FIELDS_LEN);
        put_u16(out, self.character_set);
        put_u32(out, self.column_length);
        put_u8(out, self.column_type.to_u8());
        put_u16(out, self.flags.0);
        put_u8(out, self.decimals);
        out.extend_from_slice(&self.filler);
        out.extend_from_slice(self.trailing);
    }

    /// True when the column holds unsigned integers.
    pub fn is_unsigned(&self) -> bool {
        self.flags.contains(ColumnFlags::UNSIGNED)
    }

    /// What [`crate::value::Value::decode_binary`] and the binary row codec
    /// need: the type and the unsigned flag.
    pub fn binary_type(&self) -> (ColumnType, bool) {
        (self.column_type, self.is_unsigned())
    }
}

/// The column count that opens a result set: a lenenc integer. A following
/// `metadata_follows` byte (MySQL `CLIENT_OPTIONAL_RESULTSET_METADATA`,
/// MariaDB `MARIADB_CLIENT_CACHE_METADATA`) is ignored.
///
/// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query_response_text_resultset.html>
/// <https://mariadb.com/kb/en/result-set-packets/#column-count-packet>
pub fn column_count(payload: &[u8]) -> Result<u64> {
    let mut r = Reader::new(payload);
    let n = r.lenenc_int("column count")?;
    if r.len() > 1 {
        return Err(ProtoError::TrailingBytes {
            what: "column count",
            left: r.len(),
        });
    }
    Ok(n)
}

/// Appends a column-count packet payload.
pub fn encode_column_count(n: u64, out: &mut Vec<u8>) {
    put_lenenc_int(out, n);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // `SELECT @@version_comment LIMIT 1` column definition, from the
    // protocol documentation's example.
    const VERSION_COMMENT: &[u8] = &[
        0x03, 0x64, 0x65, 0x66, 0x00, 0x00, 0x00, 0x11, 0x40, 0x40, 0x76, 0x65, 0x72, 0x73, 0x69,
        0x6f, 0x6e, 0x5f, 0x63, 0x6f, 0x6d, 0x6d, 0x65, 0x6e, 0x74, 0x00, 0x0c, 0x08, 0x00, 0x1c,
        0x00, 0x00, 0x00, 0xfd, 0x00, 0x00, 0x1f, 0x00, 0x00,
    ];

    #[test]
    fn decodes_doc_example() {
        let c = ColumnDefinition41::decode(VERSION_COMMENT).unwrap();
        assert_eq!(c.catalog, b"def");
        assert_eq!(c.name, b"@@version_comment");
        assert_eq!(c.org_name, b"");
        assert_eq!(c.character_set, 8);
        assert_eq!(c.column_length, 0x1c);
        assert_eq!(c.column_type, ColumnType::VarString);
        assert_eq!(c.flags, ColumnFlags(0));
        assert_eq!(c.decimals, 0x1f);
        assert!(c.trailing.is_empty());
        let mut out = Vec::new();
        c.encode(&mut out);
        assert_eq!(out, VERSION_COMMENT);
    }

    #[test]
    fn keeps_field_list_default_value() {
        let mut p = VERSION_COMMENT.to_vec();
        p.extend_from_slice(&[0x02, b'4', b'2']);
        let c = ColumnDefinition41::decode(&p).unwrap();
        assert_eq!(c.trailing, &[0x02, b'4', b'2']);
        let mut out = Vec::new();
        c.encode(&mut out);
        assert_eq!(out, p);
    }

    #[test]
    fn truncated_definitions_are_errors() {
        for cut in 0..VERSION_COMMENT.len() {
            assert!(
                ColumnDefinition41::decode(&VERSION_COMMENT[..cut]).is_err(),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn bad_fixed_length_is_invalid() {
        let mut p = VERSION_COMMENT.to_vec();
        p[26] = 0x0b;
        assert!(matches!(
            ColumnDefinition41::decode(&p),
            Err(ProtoError::Invalid { .. })
        ));
    }

    #[test]
    fn every_type_code_round_trips() {
        for code in 0..=255u8 {
            assert_eq!(ColumnType::from_u8(code).to_u8(), code);
        }
        assert_eq!(ColumnType::from_u8(0xf5), ColumnType::Json);
        assert_eq!(ColumnType::from_u8(0xf6), ColumnType::NewDecimal);
        assert_eq!(ColumnType::from_u8(0xff), ColumnType::Geometry);
        assert_eq!(ColumnType::from_u8(0x14), ColumnType::Unknown(0x14));
    }

    #[test]
    fn column_counts() {
        assert_eq!(column_count(&[0x01]).unwrap(), 1);
        assert_eq!(column_count(&[0xfc, 0x2c, 0x01]).unwrap(), 300);
        // MariaDB / MySQL metadata-follows byte
        assert_eq!(column_count(&[0x03, 0x01]).unwrap(), 3);
        assert!(column_count(&[]).is_err());
        assert!(column_count(&[0xfc, 0x01]).is_err());
        assert!(column_count(&[0x03, 0x01, 0x00]).is_err());
        let mut out = Vec::new();
        encode_column_count(300, &mut out);
        assert_eq!(out, [0xfc, 0x2c, 0x01]);
    }

    #[test]
    fn flags() {
        let f = ColumnFlags::NOT_NULL | ColumnFlags::UNSIGNED;
        assert!(f.contains(ColumnFlags::UNSIGNED));
        assert!(!f.contains(ColumnFlags::BLOB));
        let mut c = ColumnDefinition41::new(b"n", ColumnType::LongLong, 63);
        c.flags = f;
        assert_eq!(c.binary_type(), (ColumnType::LongLong, true));
    }

    fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 0..max)
    }

    proptest! {
        #[test]
        fn definition_round_trip(
            strs in proptest::collection::vec(bytes(300), 6),
            cs in any::<u16>(), len in any::<u32>(), ty in any::<u8>(), flags in any::<u16>(),
            dec in any::<u8>(), filler in any::<[u8; 2]>(), trailing in bytes(8),
        ) {
            let c = ColumnDefinition41 {
                catalog: &strs[0], schema: &strs[1], table: &strs[2], org_table: &strs[3],
                name: &strs[4], org_name: &strs[5], character_set: cs, column_length: len,
                column_type: ColumnType::from_u8(ty), flags: ColumnFlags(flags), decimals: dec,
                filler, trailing: &trailing,
            };
            let mut out = Vec::new();
            c.encode(&mut out);
            let d = ColumnDefinition41::decode(&out).unwrap();
            prop_assert_eq!(d, c);
            let mut again = Vec::new();
            d.encode(&mut again);
            prop_assert_eq!(again, out);
        }

        #[test]
        fn definition_decode_never_panics(p in bytes(64)) {
            let _ = ColumnDefinition41::decode(&p);
        }
    }
}
