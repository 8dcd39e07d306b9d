//! COM_STMT_EXECUTE body decoder with any parameter count and any
//! previously bound types.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shardgate_proto::column::ColumnType;
use shardgate_proto::stmt::StmtExecute;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let nparams = usize::from(data[0] % 40);
    let prev: Vec<(ColumnType, bool)> = (0..nparams).map(|i| (ColumnType::from_u8(data[1].wrapping_add(i as u8)), i % 2 == 0)).collect();
    let body = &data[2..];
    for prev_types in [None, Some(&prev[..])] {
        if let Ok(ex) = StmtExecute::decode(body, nparams, prev_types) {
            let long = vec![false; nparams];
            for p in ex.params(&long) {
                let _ = p;
            }
            let mut out = Vec::new();
            ex.encode(&mut out);
        }
    }
});
