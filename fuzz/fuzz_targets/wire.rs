//! The worker protocol: any bytes, read at any protocol version by every decoder, give a
//! value or an error, never a panic or a huge allocation. What decodes writes back to
//! bytes that decode to the same value.
#![no_main]

use ferrix_store::path::{StoreDir, StorePath};
use ferrix_store::{Hash, PathInfo};
use ferrix_wire::*;
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeSet;
use std::io::{Read, Write};

fn path() -> StorePath {
    StorePath::from_base_name("ivlnvab4q9c7wbsvbfsvgaa15j9p6206-fuzz").unwrap()
}

/// A request of every shape a reply can answer.
fn requests() -> Vec<Request> {
    let mut v: Vec<Request> = Op::ALL
        .iter()
        .filter_map(|op| {
            Request::read_args(&mut &[][..], *op, Version::CURRENT, &StoreDir::default()).ok()
        })
        .collect();
    v.extend([
        Request::IsValidPath(path()),
        Request::QueryPathInfo(path()),
        Request::QueryPathHash(path()),
        Request::QueryDeriver(path()),
        Request::QueryReferrers(path()),
        Request::QueryDerivationOutputNames(path()),
        Request::QuerySubstitutablePathInfo(path()),
        Request::QueryDerivationOutputMap(path()),
        Request::QueryRealisation(String::new()),
        Request::QueryMissing(vec![]),
        Request::AddTextToStore {
            name: "x".into(),
            text: vec![],
            references: BTreeSet::new(),
        },
        Request::AddToStore(AddToStore::Ca {
            name: "x".into(),
            method: CaMethod::Text,
            references: BTreeSet::new(),
            repair: false,
        }),
        Request::CollectGarbage(GcOptions {
            action: GcAction::ReturnDead,
            paths_to_delete: BTreeSet::new(),
            ignore_liveness: false,
            max_freed: 0,
        }),
        Request::BuildDerivation {
            drv_path: path(),
            drv: Box::default(),
            mode: BuildMode::Normal,
        },
        Request::BuildPathsWithResults {
            paths: vec![],
            mode: BuildMode::Normal,
        },
        Request::AddToStoreNar {
            info: Box::new(PathInfo::new(path(), Hash::sha256(b""), 0)),
            repair: false,
            dont_check_sigs: false,
        },
    ]);
    v
}

fuzz_target!(|input: &[u8]| {
    let Some((&minor, data)) = input.split_first() else {
        return;
    };
    let ver = Version::new(1, minor.clamp(10, 34));
    let dir = StoreDir::default();

    if let Ok(req) = Request::read(&mut &data[..], ver, &dir) {
        let mut out = Vec::new();
        req.write(&mut out, ver, &dir)
            .expect("a decoded request writes");
        let again = Request::read(&mut &out[..], ver, &dir).expect("a written request reads");
        assert_eq!(again, req);
    }
    for op in Op::ALL {
        let _ = Request::read_args(&mut &data[..], *op, ver, &dir);
    }
    for req in requests() {
        if let Ok(reply) = Reply::read(&mut &data[..], &req, ver, &dir) {
            let mut out = Vec::new();
            if reply.write(&mut out, ver, &dir).is_ok() {
                let again =
                    Reply::read(&mut &out[..], &req, ver, &dir).expect("a written reply reads");
                assert_eq!(again, reply);
            }
        }
    }
    let mut r = data;
    while let Ok(msg) = StderrMsg::read(&mut r, ver) {
        // Activities read at any version but are only written from 1.20 on.
        let mut out = Vec::new();
        match msg.write(&mut out, ver) {
            Ok(()) => assert_eq!(StderrMsg::read(&mut &out[..], ver).expect("reads"), msg),
            Err(WireError::NotInVersion { .. }) => assert!(!ver.at_least(20)),
            Err(e) => panic!("a decoded message does not write: {e}"),
        }
    }
    let _ = ClientSettings::read(&mut &data[..], ver);
    let _ = BasicDerivation::read(&mut &data[..], &dir);
    let _ = read_path_info(&mut &data[..], &dir, ver, None);
    let _ = derived::read_derived_paths(&mut &data[..], &dir, ver);
    let _ = BuildResult::read(&mut &data[..], ver);
    let _ = KeyedBuildResult::read(&mut &data[..], &dir);
    let _ = SubstitutablePathInfo::read(&mut &data[..], &dir);
    let _ = client_handshake(&mut &data[..], &mut std::io::sink(), ver);
    let _ = server_handshake(&mut &data[..], &mut std::io::sink(), ver, "2.8.0");
    let _ = FramedReader::new(data).read_to_end(&mut Vec::new());
    let _ = TunnelReader::new(data, std::io::sink()).read_to_end(&mut Vec::new());
    let mut copy = Vec::new();
    if let Ok(n) = copy_nar(&mut &data[..], &mut copy) {
        assert_eq!(&data[..n as usize], &copy[..]);
    }
    let mut fw = FramedWriter::with_frame_size(Vec::new(), 5);
    fw.write_all(data).unwrap();
    let framed = fw.finish().unwrap();
    let mut back = Vec::new();
    FramedReader::new(&framed[..])
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, data);
});
