//! Prepared statements on the wire: the `COM_STMT_PREPARE` OK reply
//! ([`StmtPrepareOk`]), the body of `COM_STMT_EXECUTE` ([`StmtExecute`]:
//! header, NULL bitmap, parameter types, parameter values) and the
//! statement-id helpers the proxy uses to map a client's statement ids to
//! each backend connection's own ids.
//!
//! The proxy prepares a client's statement on every backend connection it
//! routes it to, so `COM_STMT_EXECUTE`, `COM_STMT_SEND_LONG_DATA`,
//! `COM_STMT_CLOSE`, `COM_STMT_RESET` and `COM_STMT_FETCH` are forwarded
//! with the statement id rewritten ([`set_stmt_id`], or
//! [`StmtExecute::encode_with_id`]); when the backend statement is new but
//! the client did not resend parameter types, [`StmtExecute::encode_with_types`]
//! adds them.
//!
//! Not handled: MySQL's query attributes (`CLIENT_QUERY_ATTRIBUTES`,
//! `PARAMETER_COUNT_AVAILABLE`) and MariaDB's bulk parameter arrays, which
//! need capabilities shardgate never announces.
//!
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_stmt_prepare.html>
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_stmt_execute.html>
//! <https://mariadb.com/kb/en/com_stmt_execute/>

use crate::codec::{put_u16, put_u32, put_u8, Reader};
use crate::column::ColumnType;
use crate::error::{ProtoError, Result};
use crate::value::Value;

pub const COM_STMT_EXECUTE: u8 = 0x17;
pub const COM_STMT_SEND_LONG_DATA: u8 = 0x18;
pub const COM_STMT_CLOSE: u8 = 0x19;
pub const COM_STMT_RESET: u8 = 0x1a;
pub const COM_STMT_FETCH: u8 = 0x1c;

/// MariaDB (10.2+): statement id -1 in `COM_STMT_EXECUTE` means "the
/// statement prepared last on this connection" (pipelined prepare+execute).
/// The proxy must resolve it before mapping ids.
pub const LAST_PREPARED_STMT_ID: u32 = 0xffff_ffff;

/// Flag byte of a parameter type: the parameter is unsigned.
pub const PARAM_UNSIGNED: u8 = 0x80;

/// `COM_STMT_EXECUTE` flags (cursor type). MariaDB uses the same values;
/// its 0x40/0x80 flags belong to `COM_STMT_BULK_EXECUTE`, not here.
pub mod cursor {
    pub const NO_CURSOR: u8 = 0x00;
    pub const READ_ONLY: u8 = 0x01;
    pub const FOR_UPDATE: u8 = 0x02;
    pub const SCROLLABLE: u8 = 0x04;
    /// MySQL 8.0.26+, with `CLIENT_QUERY_ATTRIBUTES` only (not supported).
    pub const PARAMETER_COUNT_AVAILABLE: u8 = 0x08;
}

/// The first packet of a successful `COM_STMT_PREPARE` reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StmtPrepareOk {
    pub statement_id: u32,
    pub num_columns: u16,
    pub num_params: u16,
    /// Reserved filler byte, normally 0.
    pub reserved: u8,
    /// Absent in short (pre-4.1) replies.
    pub warning_count: Option<u16>,
    /// MySQL `CLIENT_OPTIONAL_RESULTSET_METADATA` only.
    pub metadata_follows: Option<u8>,
}

impl StmtPrepareOk {
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_stmt_prepare.html#sect_protocol_com_stmt_prepare_response_ok>
    pub fn decode(payload: &[u8]) -> Result<Self> {
        let mut r = Reader::new(payload);
        if r.u8("STMT_PREPARE_OK: status")? != 0x00 {
            return Err(ProtoError::Invalid {
                what: "STMT_PREPARE_OK: status",
            });
        }
        let mut ok = StmtPrepareOk {
            statement_id: r.u32("STMT_PREPARE_OK: statement id")?,
            num_columns: r.u16("STMT_PREPARE_OK: column count")?,
            num_params: r.u16("STMT_PREPARE_OK: parameter count")?,
            reserved: r.u8("STMT_PREPARE_OK: reserved")?,
            ..StmtPrepareOk::default()
        };
        if !r.is_empty() {
            ok.warning_count = Some(r.u16("STMT_PREPARE_OK: warning count")?);
        }
        if !r.is_empty() {
            ok.metadata_follows = Some(r.u8("STMT_PREPARE_OK: metadata follows")?);
        }
        r.finish("STMT_PREPARE_OK")?;
        Ok(ok)
    }

    /// Appends the payload. A `metadata_follows` without `warning_count`
    /// writes a zero warning count before it.
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_u8(out, 0x00);
        put_u32(out, self.statement_id);
        put_u16(out, self.num_columns);
        put_u16(out, self.num_params);
        put_u8(out, self.reserved);
        if self.warning_count.is_some() || self.metadata_follows.is_some() {
            put_u16(out, self.warning_count.unwrap_or(0));
        }
        if let Some(m) = self.metadata_follows {
            put_u8(out, m);
        }
    }
}

/// Parameter types of an execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamTypes<'a> {
    /// Sent in this packet (new-params-bound = 1): two bytes per
    /// parameter, type code then flags ([`PARAM_UNSIGNED`]). Empty when the
    /// statement has no parameters.
    Sent(&'a [u8]),
    /// Not sent (new-params-bound = 0): those bound by an earlier
    /// execution, copied from the caller's `prev_types`.
    Previous(Vec<(ColumnType, bool)>),
}

impl ParamTypes<'_> {
    pub fn len(&self) -> usize {
        match self {
            ParamTypes::Sent(raw) => raw.len() / 2,
            ParamTypes::Previous(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Type and unsigned flag of parameter `i`.
    pub fn get(&self, i: usize) -> Option<(ColumnType, bool)> {
        match self {
            ParamTypes::Sent(raw) => {
                let pair = raw.get(2 * i..2 * i + 2)?;
                Some((ColumnType::from_u8(pair[0]), pair[1] & PARAM_UNSIGNED != 0))
            }
            ParamTypes::Previous(v) => v.get(i).copied(),
        }
    }

    /// All the types, to remember for the next execution.
    pub fn to_vec(&self) -> Vec<(ColumnType, bool)> {
        (0..self.len()).filter_map(|i| self.get(i)).collect()
    }
}

/// The body of `COM_STMT_EXECUTE` (after the command byte).
///
/// Parameter values are kept undecoded in `values` because their layout
/// depends on which parameters the client sent earlier with
/// `COM_STMT_SEND_LONG_DATA`: those have no value in this packet at all
/// (whatever their NULL bit says), and only the session knows them. Read
/// the values with [`StmtExecute::params`], passing that knowledge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StmtExecute<'a> {
    pub statement_id: u32,
    /// Cursor type, see [`cursor`].
    pub flags: u8,
    /// Always 1.
    pub iteration_count: u32,
    /// Number of parameters, from the prepare reply.
    pub num_params: usize,
    /// `(num_params + 7) / 8` bytes, bit `i` set when parameter `i` is NULL;
    /// empty without parameters.
    pub null_bitmap: &'a [u8],
    /// The new-params-bound flag as sent (false without parameters).
    pub new_params_bound: bool,
    pub types: ParamTypes<'a>,
    /// The binary values of the non-NULL, non-long-data parameters.
    pub values: &'a [u8],
    /// The body after the statement id, exactly as received: what
    /// [`StmtExecute::encode_with_id`] copies.
    pub raw: &'a [u8],
}

impl<'a> StmtExecute<'a> {
    /// Decodes the body of `COM_STMT_EXECUTE` (the payload after its
    /// command byte) for a statement with `num_params` parameters;
    /// `prev_types` are the types bound by the previous execution of the
    /// same statement, used when this one does not send them (an error if
    /// there are none, or if their count differs).
    ///
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_stmt_execute.html>
    /// <https://mariadb.com/kb/en/com_stmt_execute/>
    pub fn decode(
        body: &'a [u8],
        num_params: usize,
        prev_types: Option<&[(ColumnType, bool)]>,
    ) -> Result<Self> {
        let mut r = Reader::new(body);
        let statement_id = r.u32("STMT_EXECUTE: statement id")?;
        let raw = r.remaining();
        let flags = r.u8("STMT_EXECUTE: flags")?;
        let iteration_count = r.u32("STMT_EXECUTE: iteration count")?;
        let mut exec = StmtExecute {
            statement_id,
            flags,
            iteration_count,
            num_params,
            null_bitmap: &[],
            new_params_bound: false,
            types: ParamTypes::Sent(&[]),
            values: &[],
            raw,
        };
        if num_params > 0 {
            exec.null_bitmap = r.take(num_params.div_ceil(8), "STMT_EXECUTE: NULL bitmap")?;
            exec.new_params_bound = match r.u8("STMT_EXECUTE: new params bound flag")? {
                0 => false,
                1 => true,
                _ => {
                    return Err(ProtoError::Invalid {
                        what: "STMT_EXECUTE: new params bound flag",
                    })
                }
            };
            exec.types = if exec.new_params_bound {
                let len = num_params.checked_mul(2).ok_or(ProtoError::Truncated {
                    what: "STMT_EXECUTE: parameter types",
                })?;
                ParamTypes::Sent(r.take(len, "STMT_EXECUTE: parameter types")?)
            } else {
                match prev_types {
                    Some(prev) if prev.len() == num_params => ParamTypes::Previous(prev.to_vec()),
                    Some(_) => {
                        return Err(ProtoError::Invalid {
                            what: "STMT_EXECUTE: bound types do not match the parameter count",
                        })
                    }
                    None => {
                        return Err(ProtoError::Invalid {
                            what: "STMT_EXECUTE: parameter types were never bound",
                        })
                    }
                }
            };
        }
        exec.values = r.rest();
        Ok(exec)
    }

    /// True when parameter `i` is marked NULL.
    pub fn is_null(&self, i: usize) -> bool {
        self.null_bitmap
            .get(i / 8)
            .is_some_and(|b| b & (1 << (i % 8)) != 0)
    }

    /// The parameters in order. `long_data[i]` tells that parameter `i` was
    /// sent with `COM_STMT_SEND_LONG_DATA` since the last execution (so it
    /// has no value here); pass `&[]` when none was. Yields an error (then
    /// stops) on malformed values or bytes after the last one.
    pub fn params<'s>(&'s self, long_data: &'s [bool]) -> ParamIter<'a, 's> {
        ParamIter {
            exec: self,
            long_data,
            r: Reader::new(self.values),
            index: 0,
            done: false,
        }
    }

    /// Appends the body (no command byte) exactly as received.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.encode_with_id(self.statement_id, out);
    }

    /// Appends the body (no command byte) with the statement id replaced by
    /// `new_stmt_id` and every other byte as received.
    pub fn encode_with_id(&self, new_stmt_id: u32, out: &mut Vec<u8>) {
        put_u32(out, new_stmt_id);
        out.extend_from_slice(self.raw);
    }

    /// Like [`StmtExecute::encode_with_id`], but always with the parameter
    /// types (new-params-bound = 1): for a backend statement that has not
    /// been executed yet when the client relies on types it bound before.
    pub fn encode_with_types(&self, new_stmt_id: u32, out: &mut Vec<u8>) {
        if self.num_params == 0 || self.new_params_bound {
            return self.encode_with_id(new_stmt_id, out);
        }
        put_u32(out, new_stmt_id);
        put_u8(out, self.flags);
        put_u32(out, self.iteration_count);
        out.extend_from_slice(self.null_bitmap);
        put_u8(out, 1);
        for (ty, unsigned) in self.types.to_vec() {
            put_u8(out, ty.to_u8());
            put_u8(out, if unsigned { PARAM_UNSIGNED } else { 0 });
        }
        out.extend_from_slice(self.values);
    }
}

/// One parameter of an execution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Param<'a> {
    pub column_type: ColumnType,
    pub unsigned: bool,
    /// [`Value::Null`] for a NULL parameter.
    pub value: ParamValue<'a>,
}

/// Where a parameter's value is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamValue<'a> {
    Value(Value<'a>),
    /// Sent earlier with `COM_STMT_SEND_LONG_DATA`.
    LongData,
}

/// Iterator over the parameters of a [`StmtExecute`].
#[derive(Debug, Clone)]
pub struct ParamIter<'a, 's> {
    exec: &'s StmtExecute<'a>,
    long_data: &'s [bool],
    r: Reader<'a>,
    index: usize,
    done: bool,
}

impl<'a> Iterator for ParamIter<'a, '_> {
    type Item = Result<Param<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let i = self.index;
        let Some((column_type, unsigned)) =
            self.exec.types.get(i).filter(|_| i < self.exec.num_params)
        else {
            self.done = true;
            return match self.r.finish("STMT_EXECUTE: parameter values") {
                Ok(()) => None,
                Err(e) => Some(Err(e)),
            };
        };
        self.index += 1;
        let value = if self.long_data.get(i).copied().unwrap_or(false) {
            ParamValue::LongData
        } else if self.exec.is_null(i) {
            ParamValue::Value(Value::Null)
        } else {
            match Value::decode_binary(&mut self.r, column_type, unsigned) {
                Ok(v) => ParamValue::Value(v),
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        };
        Some(Ok(Param {
            column_type,
            unsigned,
            value,
        }))
    }
}

/// Appends a `COM_STMT_EXECUTE` body (no command byte) for statement
/// `stmt_id` with iteration count 1 and these parameters (type, unsigned,
/// value; [`Value::Null`] goes in the NULL bitmap). `send_types` sets the
/// new-params-bound flag and writes the types. On error (a value its type
/// cannot carry) `out` is left as it was.
pub fn encode_execute(
    stmt_id: u32,
    flags: u8,
    params: &[(ColumnType, bool, Value<'_>)],
    send_types: bool,
    out: &mut Vec<u8>,
) -> Result<()> {
    let start = out.len();
    put_u32(out, stmt_id);
    put_u8(out, flags);
    put_u32(out, 1);
    if params.is_empty() {
        return Ok(());
    }
    let bitmap_at = out.len();
    out.resize(bitmap_at + params.len().div_ceil(8), 0);
    for (i, (_, _, v)) in params.iter().enumerate() {
        if v.is_null() {
            out[bitmap_at + i / 8] |= 1 << (i % 8);
        }
    }
    put_u8(out, u8::from(send_types));
    if send_types {
        for &(ty, unsigned, _) in params {
            put_u8(out, ty.to_u8());
            put_u8(out, if unsigned { PARAM_UNSIGNED } else { 0 });
        }
    }
    for (ty, unsigned, v) in params {
        if !v.is_null() {
            if let Err(e) = v.encode_binary(*ty, *unsigned, out) {
                out.truncate(start);
                return Err(e);
            }
        }
    }
    Ok(())
}

fn check_stmt_command(payload: &[u8]) -> Result<()> {
    match payload.first() {
        None => Err(ProtoError::Truncated {
            what: "statement command",
        }),
        Some(
            &(COM_STMT_EXECUTE
            | COM_STMT_SEND_LONG_DATA
            | COM_STMT_CLOSE
            | COM_STMT_RESET
            | COM_STMT_FETCH),
        ) => {
            if payload.len() < 5 {
                Err(ProtoError::Truncated {
                    what: "statement command: statement id",
                })
            } else {
                Ok(())
            }
        }
        Some(_) => Err(ProtoError::Invalid {
            what: "not a statement command",
        }),
    }
}

/// The statement id of a `COM_STMT_EXECUTE`, `COM_STMT_SEND_LONG_DATA`,
/// `COM_STMT_CLOSE`, `COM_STMT_RESET` or `COM_STMT_FETCH` payload (command
/// byte included): the 4 bytes after the command byte.
pub fn stmt_id_of_execute(payload: &[u8]) -> Result<u32> {
    check_stmt_command(payload)?;
    Reader::new(&payload[1..]).u32("statement id")
}

/// Rewrites in place the statement id of one of the payloads
/// [`stmt_id_of_execute`] accepts.
pub fn set_stmt_id(payload: &mut [u8], id: u32) -> Result<()> {
    check_stmt_command(payload)?;
    payload[1..5].copy_from_slice(&id.to_le_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn prepare_ok_doc_example() {
        let p = [
            0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00,
        ];
        let ok = StmtPrepareOk::decode(&p).unwrap();
        assert_eq!(
            ok,
            StmtPrepareOk {
                statement_id: 1,
                num_columns: 1,
                num_params: 2,
                reserved: 0,
                warning_count: Some(0),
                metadata_follows: None
            }
        );
        let mut out = Vec::new();
        ok.encode(&mut out);
        assert_eq!(out, p);
        // short form without warnings, and with metadata_follows
        let short = StmtPrepareOk::decode(&p[..10]).unwrap();
        assert_eq!(short.warning_count, None);
        let mut out = Vec::new();
        short.encode(&mut out);
        assert_eq!(out, &p[..10]);
        let mut long = p.to_vec();
        long.push(1);
        assert_eq!(
            StmtPrepareOk::decode(&long).unwrap().metadata_follows,
            Some(1)
        );
        long.push(0);
        assert!(StmtPrepareOk::decode(&long).is_err());
        for cut in [0, 1, 5, 9, 11] {
            assert!(StmtPrepareOk::decode(&p[..cut]).is_err(), "cut {cut}");
        }
        assert!(StmtPrepareOk::decode(&[0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
    }

    // 12 00 00 00 | 17 01 00 00 00 00 01 00 00 00 00 01 0f 00 03 66 6f 6f
    const DOC_EXECUTE: &[u8] = &[
        0x17, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x0f, 0x00, 0x03,
        0x66, 0x6f, 0x6f,
    ];

    #[test]
    fn execute_doc_example() {
        let body = &DOC_EXECUTE[1..];
        let e = StmtExecute::decode(body, 1, None).unwrap();
        assert_eq!(e.statement_id, 1);
        assert_eq!(e.flags, cursor::NO_CURSOR);
        assert_eq!(e.iteration_count, 1);
        assert!(e.new_params_bound);
        assert_eq!(e.types.to_vec(), [(ColumnType::VarChar, false)]);
        let params: Vec<_> = e.params(&[]).collect::<Result<_>>().unwrap();
        assert_eq!(
            params,
            [Param {
                column_type: ColumnType::VarChar,
                unsigned: false,
                value: ParamValue::Value(Value::Bytes(b"foo"))
            }]
        );
        let mut out = Vec::new();
        e.encode(&mut out);
        assert_eq!(out, body);
        let mut out = Vec::new();
        e.encode_with_id(77, &mut out);
        assert_eq!(&out[..4], &77u32.to_le_bytes());
        assert_eq!(&out[4..], &body[4..]);
        let mut built = Vec::new();
        encode_execute(
            1,
            0,
            &[(ColumnType::VarChar, false, Value::Bytes(b"foo"))],
            true,
            &mut built,
        )
        .unwrap();
        assert_eq!(built, body);
        for cut in 0..13 {
            assert!(
                StmtExecute::decode(&body[..cut], 1, None).is_err(),
                "cut {cut}"
            );
        }
        // a cut inside the values decodes, but reading the values fails
        for cut in 13..body.len() {
            let e = StmtExecute::decode(&body[..cut], 1, None).unwrap();
            assert!(e.params(&[]).any(|p| p.is_err()), "cut {cut}");
        }
    }

    #[test]
    fn execute_with_previous_types_and_long_data() {
        // two params, types not resent: a NULL and a long-data one
        let body = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0b01, 0];
        let prev = [(ColumnType::Long, false), (ColumnType::Blob, false)];
        assert!(StmtExecute::decode(&body, 2, None).is_err());
        assert!(StmtExecute::decode(&body, 2, Some(&prev[..1])).is_err());
        let e = StmtExecute::decode(&body, 2, Some(&prev)).unwrap();
        assert!(!e.new_params_bound);
        assert!(e.is_null(0) && !e.is_null(1));
        let params: Vec<_> = e.params(&[false, true]).collect::<Result<_>>().unwrap();
        assert_eq!(params[0].value, ParamValue::Value(Value::Null));
        assert_eq!(params[1].value, ParamValue::LongData);
        // without the long-data knowledge the Blob value is missing
        assert!(e.params(&[]).any(|p| p.is_err()));
        // adding the types for a fresh backend statement
        let mut out = Vec::new();
        e.encode_with_types(9, &mut out);
        let again = StmtExecute::decode(&out, 2, None).unwrap();
        assert_eq!(again.statement_id, 9);
        assert!(again.new_params_bound);
        assert_eq!(again.types.to_vec(), prev);
        assert_eq!(
            again
                .params(&[false, true])
                .collect::<Result<Vec<_>>>()
                .unwrap(),
            params
        );
        // bad bound flag
        let mut bad = body;
        bad[10] = 2;
        assert!(StmtExecute::decode(&bad, 2, Some(&prev)).is_err());
        // trailing bytes after the values
        let body = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0x01, 0x80, 0xff, 0x00];
        let e = StmtExecute::decode(&body, 1, None).unwrap();
        assert_eq!(e.types.get(0), Some((ColumnType::Tiny, true)));
        assert!(e.params(&[]).any(|p| p.is_err()));
    }

    #[test]
    fn execute_without_params() {
        let body = [5, 0, 0, 0, cursor::READ_ONLY, 1, 0, 0, 0];
        let e = StmtExecute::decode(&body, 0, None).unwrap();
        assert_eq!((e.statement_id, e.flags), (5, cursor::READ_ONLY));
        assert_eq!(e.params(&[]).count(), 0);
        let mut out = Vec::new();
        e.encode_with_types(6, &mut out);
        assert_eq!(&out[4..], &body[4..]);
    }

    #[test]
    fn statement_ids_in_place() {
        let mut p = DOC_EXECUTE.to_vec();
        assert_eq!(stmt_id_of_execute(&p).unwrap(), 1);
        set_stmt_id(&mut p, 0xdead_beef).unwrap();
        assert_eq!(stmt_id_of_execute(&p).unwrap(), 0xdead_beef);
        assert_eq!(&p[5..], &DOC_EXECUTE[5..]);
        for cmd in [
            COM_STMT_CLOSE,
            COM_STMT_RESET,
            COM_STMT_FETCH,
            COM_STMT_SEND_LONG_DATA,
        ] {
            let mut p = [cmd, 4, 0, 0, 0];
            set_stmt_id(&mut p, 8).unwrap();
            assert_eq!(stmt_id_of_execute(&p).unwrap(), 8);
        }
        assert!(stmt_id_of_execute(&[0x03, 1, 0, 0, 0]).is_err());
        assert!(stmt_id_of_execute(&[]).is_err());
        assert!(stmt_id_of_execute(&[COM_STMT_CLOSE, 1, 0, 0]).is_err());
        assert!(set_stmt_id(&mut [COM_STMT_CLOSE, 1, 0], 2).is_err());
    }

    fn param() -> impl Strategy<Value = (ColumnType, bool, Value<'static>)> {
        prop_oneof![
            Just((ColumnType::Null, false, Value::Null)),
            Just((ColumnType::LongLong, false, Value::Null)),
            any::<i64>().prop_map(|v| (ColumnType::LongLong, false, Value::Int(v))),
            any::<u16>().prop_map(|v| (ColumnType::Short, true, Value::UInt(v.into()))),
            any::<f32>()
                .prop_filter("nan", |f| !f.is_nan())
                .prop_map(|v| (ColumnType::Float, false, Value::Float(v))),
            (0u16..10000, 1u8..13, 1u8..29).prop_map(|(year, month, day)| (
                ColumnType::Date,
                false,
                Value::Date {
                    year,
                    month,
                    day,
                    hour: 0,
                    minute: 0,
                    second: 0,
                    micros: 0
                },
            )),
            (any::<bool>(), 0u32..35, 0u32..1_000_000).prop_map(|(negative, days, micros)| (
                ColumnType::Time,
                false,
                Value::Time {
                    negative,
                    days,
                    hours: 1,
                    minutes: 2,
                    seconds: 3,
                    micros
                },
            )),
            proptest::collection::vec(any::<u8>(), 0..100).prop_map(|v| (
                ColumnType::VarString,
                false,
                Value::Bytes(Box::leak(v.into_boxed_slice()))
            )),
        ]
    }

    proptest! {
        #[test]
        fn execute_round_trip(params in proptest::collection::vec(param(), 0..20), id in any::<u32>(), flags in 0u8..8) {
            let mut body = Vec::new();
            encode_execute(id, flags, &params, true, &mut body).unwrap();
            let e = StmtExecute::decode(&body, params.len(), None).unwrap();
            prop_assert_eq!((e.statement_id, e.flags, e.iteration_count), (id, flags, 1));
            let got: Vec<_> = e.params(&[]).collect::<Result<_>>().unwrap();
            prop_assert_eq!(got.len(), params.len());
            for (g, p) in got.iter().zip(&params) {
                prop_assert_eq!((g.column_type, g.unsigned, g.value), (p.0, p.1, ParamValue::Value(p.2)));
            }
            let mut again = Vec::new();
            e.encode(&mut again);
            prop_assert_eq!(&again, &body);
            // the same execution without types decodes with the previous ones
            let types: Vec<_> = params.iter().map(|p| (p.0, p.1)).collect();
            let mut untyped = Vec::new();
            encode_execute(id, flags, &params, false, &mut untyped).unwrap();
            let u = StmtExecute::decode(&untyped, params.len(), Some(&types)).unwrap();
            prop_assert_eq!(u.params(&[]).collect::<Result<Vec<_>>>().unwrap(), got);
            let mut typed = Vec::new();
            u.encode_with_types(id, &mut typed);
            prop_assert_eq!(typed, body);
        }

        #[test]
        fn execute_decode_never_panics(p in proptest::collection::vec(any::<u8>(), 0..40), n in 0usize..20) {
            let prev = vec![(ColumnType::Time, false); n];
            if let Ok(e) = StmtExecute::decode(&p, n, Some(&prev)) {
                let _ = e.params(&[true, false]).count();
            }
            let _ = StmtPrepareOk::decode(&p);
            let _ = stmt_id_of_execute(&p);
            let mut q = p.clone();
            let _ = set_stmt_id(&mut q, 3);
        }
    }
}
