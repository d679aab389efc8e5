//! Round trips, totality, and byte-exact encodings checked against Nix 2.8's facts.

use crate::codec::*;
use crate::derived::{read_derived_paths, write_derived_paths};
use crate::*;
use ferrix_store::hash::{Hash, HashAlgo};
use ferrix_store::path::{Ingestion, StoreDir, StorePath};
use ferrix_store::PathInfo;
use proptest::collection::{btree_map, btree_set, vec};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read, Write};

// ---------------------------------------------------------------------------------------
// Strategies

const VERSIONS: &[u8] = &[
    10, 11, 12, 14, 15, 16, 17, 20, 21, 22, 23, 25, 26, 27, 28, 29, 30, 31, 33, 34,
];

fn version() -> impl Strategy<Value = Version> {
    proptest::sample::select(VERSIONS).prop_map(|m| Version::new(1, m))
}

fn dir() -> StoreDir {
    StoreDir::default()
}

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9+_?=-][a-zA-Z0-9+._?=-]{0,20}"
}

fn store_path() -> impl Strategy<Value = StorePath> {
    (any::<[u8; 20]>(), name(), any::<bool>()).prop_map(|(d, n, drv)| {
        let n = if drv { format!("{n}.drv") } else { n };
        StorePath::from_parts(&d, &n).expect("valid name")
    })
}

fn drv_path() -> impl Strategy<Value = StorePath> {
    (any::<[u8; 20]>(), name())
        .prop_map(|(d, n)| StorePath::from_parts(&d, &format!("{n}.drv")).expect("valid name"))
}

fn paths() -> impl Strategy<Value = BTreeSet<StorePath>> {
    btree_set(store_path(), 0..4)
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,24}"
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..40)
}

fn sha256() -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>().prop_map(|b| Hash {
        algo: HashAlgo::Sha256,
        bytes: b.to_vec(),
    })
}

fn path_info() -> impl Strategy<Value = PathInfo> {
    (
        store_path(),
        sha256(),
        any::<u64>(),
        0..i64::MAX,
        proptest::option::of(store_path()),
        paths(),
        any::<bool>(),
        btree_set("[a-z.-]{1,8}:[A-Za-z0-9+/=]{1,20}", 0..3),
        proptest::option::of("(fixed:r:sha256|text:sha256):[0-9a-z]{52}"),
    )
        .prop_map(
            |(
                path,
                nar_hash,
                nar_size,
                registration_time,
                deriver,
                references,
                ultimate,
                sigs,
                ca,
            )| {
                PathInfo {
                    path,
                    nar_hash,
                    nar_size,
                    registration_time,
                    deriver,
                    references,
                    ultimate,
                    sigs: sigs.into_iter().collect(),
                    ca,
                }
            },
        )
}

fn output_name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,8}"
}

fn derived_path() -> impl Strategy<Value = DerivedPath> {
    prop_oneof![
        store_path().prop_map(DerivedPath::Opaque),
        (drv_path(), btree_set(output_name(), 0..3))
            .prop_map(|(drv, outputs)| DerivedPath::Built { drv, outputs }),
    ]
}

fn build_mode() -> impl Strategy<Value = BuildMode> {
    proptest::sample::select(BuildMode::ALL)
}

fn build_result() -> impl Strategy<Value = BuildResult> {
    (
        proptest::sample::select(BuildStatus::ALL),
        bytes(),
        any::<u32>(),
        any::<bool>(),
        0..i64::MAX,
        0..i64::MAX,
        btree_map(
            "sha256:[0-9a-f]{8}![a-z]{1,4}",
            "\\{[a-z\":]{0,10}\\}",
            0..3,
        ),
    )
        .prop_map(
            |(status, error_msg, times_built, nd, start, stop, outs)| BuildResult {
                status,
                error_msg,
                times_built,
                is_non_deterministic: nd,
                start_time: start,
                stop_time: stop,
                built_outputs: outs,
            },
        )
}

fn basic_derivation() -> impl Strategy<Value = BasicDerivation> {
    (
        btree_map(
            output_name(),
            (
                proptest::option::of(store_path()),
                "(r:)?(sha256)?",
                "[0-9a-f]{0,8}",
            )
                .prop_map(|(path, hash_algo, hash)| DerivationOutput {
                    path,
                    hash_algo,
                    hash,
                }),
            0..3,
        ),
        paths(),
        bytes(),
        bytes(),
        vec(bytes(), 0..3),
        btree_map(bytes(), bytes(), 0..3),
    )
        .prop_map(
            |(outputs, input_srcs, platform, builder, args, env)| BasicDerivation {
                outputs,
                input_srcs,
                platform,
                builder,
                args,
                env,
            },
        )
}

fn client_settings() -> impl Strategy<Value = ClientSettings> {
    (
        any::<[bool; 5]>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        btree_map("[a-z-]{1,12}", text(), 0..4),
    )
        .prop_map(
            |(b, verbosity, jobs, silent, cores, overrides)| ClientSettings {
                keep_failed: b[0],
                keep_going: b[1],
                try_fallback: b[2],
                verbosity: Verbosity(verbosity),
                max_build_jobs: jobs,
                max_silent_time: silent,
                verbose_build: b[3],
                build_cores: cores,
                use_substitutes: b[4],
                overrides,
            },
        )
}

fn ca_method() -> impl Strategy<Value = CaMethod> {
    prop_oneof![
        Just(CaMethod::Text),
        (
            prop_oneof![Just(Ingestion::Flat), Just(Ingestion::Recursive)],
            proptest::sample::select(
                &[
                    HashAlgo::Md5,
                    HashAlgo::Sha1,
                    HashAlgo::Sha256,
                    HashAlgo::Sha512
                ][..]
            )
        )
            .prop_map(|(method, algo)| CaMethod::Fixed { method, algo }),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    let p = store_path;
    prop_oneof![
        p().prop_map(Request::IsValidPath),
        p().prop_map(Request::HasSubstitutes),
        p().prop_map(Request::QueryPathHash),
        p().prop_map(Request::QueryReferences),
        p().prop_map(Request::QueryReferrers),
        (name(), ca_method(), paths(), any::<bool>()).prop_map(
            |(name, method, references, repair)| {
                Request::AddToStore(AddToStore::Ca {
                    name,
                    method,
                    references,
                    repair,
                })
            }
        ),
        (name(), any::<bool>(), any::<bool>(), "[a-z0-9]{0,6}").prop_map(
            |(name, fixed, recursive, hash_algo)| Request::AddToStore(AddToStore::Legacy {
                name,
                fixed,
                recursive,
                hash_algo
            })
        ),
        (name(), bytes(), paths()).prop_map(|(name, text, references)| Request::AddTextToStore {
            name,
            text,
            references
        }),
        (vec(derived_path(), 0..3), build_mode())
            .prop_map(|(paths, mode)| Request::BuildPaths { paths, mode }),
        p().prop_map(Request::EnsurePath),
        p().prop_map(Request::AddTempRoot),
        bytes().prop_map(Request::AddIndirectRoot),
        Just(Request::SyncWithGC),
        Just(Request::FindRoots),
        p().prop_map(Request::ExportPath),
        p().prop_map(Request::QueryDeriver),
        client_settings().prop_map(Request::SetOptions),
        (
            proptest::sample::select(GcAction::ALL),
            paths(),
            any::<bool>(),
            any::<u64>()
        )
            .prop_map(|(action, paths_to_delete, ignore_liveness, max_freed)| {
                Request::CollectGarbage(GcOptions {
                    action,
                    paths_to_delete,
                    ignore_liveness,
                    max_freed,
                })
            }),
        p().prop_map(Request::QuerySubstitutablePathInfo),
        p().prop_map(Request::QueryDerivationOutputs),
        Just(Request::QueryAllValidPaths),
        p().prop_map(Request::QueryPathInfo),
        Just(Request::ImportPaths),
        p().prop_map(Request::QueryDerivationOutputNames),
        "[0-9a-z]{0,32}".prop_map(Request::QueryPathFromHashPart),
        btree_map(p(), proptest::option::of("fixed:sha1:[0-9a-z]{32}"), 0..3)
            .prop_map(Request::QuerySubstitutablePathInfos),
        (paths(), any::<bool>())
            .prop_map(|(paths, substitute)| Request::QueryValidPaths { paths, substitute }),
        paths().prop_map(Request::QuerySubstitutablePaths),
        p().prop_map(Request::QueryValidDerivers),
        Just(Request::OptimiseStore),
        (any::<bool>(), any::<bool>()).prop_map(|(check_contents, repair)| {
            Request::VerifyStore {
                check_contents,
                repair,
            }
        }),
        (drv_path(), basic_derivation(), build_mode()).prop_map(|(drv_path, drv, mode)| {
            Request::BuildDerivation {
                drv_path,
                drv: Box::new(drv),
                mode,
            }
        }),
        (p(), btree_set(text(), 0..3))
            .prop_map(|(path, sigs)| Request::AddSignatures { path, sigs }),
        p().prop_map(Request::NarFromPath),
        (path_info(), any::<bool>(), any::<bool>()).prop_map(|(info, repair, dont_check_sigs)| {
            Request::AddToStoreNar {
                info: Box::new(info),
                repair,
                dont_check_sigs,
            }
        }),
        vec(derived_path(), 0..3).prop_map(Request::QueryMissing),
        p().prop_map(Request::QueryDerivationOutputMap),
        ("sha256:[0-9a-f]{8}![a-z]{1,4}", p()).prop_map(|(id, out_path)| {
            Request::RegisterDrvOutput(RegisterDrvOutput::Legacy { id, out_path })
        }),
        text().prop_map(|j| Request::RegisterDrvOutput(RegisterDrvOutput::Realisation(j))),
        text().prop_map(Request::QueryRealisation),
        (any::<bool>(), any::<bool>()).prop_map(|(repair, dont_check_sigs)| {
            Request::AddMultipleToStore {
                repair,
                dont_check_sigs,
            }
        }),
        p().prop_map(Request::AddBuildLog),
        (vec(derived_path(), 0..3), build_mode())
            .prop_map(|(paths, mode)| Request::BuildPathsWithResults { paths, mode }),
    ]
}

fn substitutable() -> impl Strategy<Value = SubstitutablePathInfo> {
    (
        proptest::option::of(store_path()),
        paths(),
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(
            |(deriver, references, download_size, nar_size)| SubstitutablePathInfo {
                deriver,
                references,
                download_size,
                nar_size,
            },
        )
}

/// A request and a reply to it.
fn exchange() -> impl Strategy<Value = (Request, Reply)> {
    let p = store_path;
    let ca_add = (name(), ca_method(), paths()).prop_map(|(name, method, references)| {
        Request::AddToStore(AddToStore::Ca {
            name,
            method,
            references,
            repair: false,
        })
    });
    prop_oneof![
        Just((Request::SyncWithGC, Reply::Ack)),
        Just((Request::NarFromPath(fixed_path()), Reply::Nothing)),
        (p(), any::<bool>()).prop_map(|(x, b)| (Request::IsValidPath(x), Reply::Bool(b))),
        p().prop_map(|x| (
            Request::AddTextToStore {
                name: "t".into(),
                text: vec![],
                references: BTreeSet::new()
            },
            Reply::Path(x)
        )),
        proptest::option::of(p())
            .prop_map(|x| (Request::QueryDeriver(fixed_path()), Reply::OptPath(x))),
        paths().prop_map(|s| (Request::QueryReferrers(fixed_path()), Reply::PathSet(s))),
        paths().prop_map(|s| (Request::QueryRealisation("x".into()), Reply::PathSet(s))),
        btree_set(text(), 0..3).prop_map(|s| (
            Request::QueryRealisation("x".into()),
            Reply::Realisations(s)
        )),
        vec(p(), 0..3).prop_map(|v| (Request::ImportPaths, Reply::PathList(v))),
        btree_set(output_name(), 0..3).prop_map(|s| (
            Request::QueryDerivationOutputNames(fixed_path()),
            Reply::StringSet(s)
        )),
        "[0-9a-f]{64}".prop_map(|h| (Request::QueryPathHash(fixed_path()), Reply::Text(h))),
        path_info().prop_map(|i| (
            Request::QueryPathInfo(i.path.clone()),
            Reply::PathInfo(Some(Box::new(i)))
        )),
        p().prop_map(|x| (Request::QueryPathInfo(x), Reply::PathInfo(None))),
        (ca_add, path_info()).prop_map(|(r, i)| (r, Reply::ValidPathInfo(Box::new(i)))),
        proptest::option::of(substitutable()).prop_map(|s| (
            Request::QuerySubstitutablePathInfo(fixed_path()),
            Reply::SubstitutablePathInfo(s)
        )),
        btree_map(p(), substitutable(), 0..3).prop_map(|m| (
            Request::QuerySubstitutablePathInfos(BTreeMap::new()),
            Reply::SubstitutablePathInfos(m)
        )),
        (paths(), paths(), paths(), any::<u64>(), any::<u64>()).prop_map(|(b, s, u, d, n)| (
            Request::QueryMissing(vec![]),
            Reply::Missing(MissingInfo {
                will_build: b,
                will_substitute: s,
                unknown: u,
                download_size: d,
                nar_size: n
            })
        )),
        vec((bytes(), p()), 0..3).prop_map(|v| (Request::FindRoots, Reply::Roots(v))),
        (btree_set(bytes(), 0..3), any::<u64>()).prop_map(|(paths, bytes_freed)| (
            Request::CollectGarbage(GcOptions {
                action: GcAction::DeleteDead,
                paths_to_delete: BTreeSet::new(),
                ignore_liveness: false,
                max_freed: u64::MAX
            }),
            Reply::Gc(GcResult { paths, bytes_freed })
        )),
        build_result().prop_map(|b| (
            Request::BuildDerivation {
                drv_path: fixed_path(),
                drv: Box::default(),
                mode: BuildMode::Normal
            },
            Reply::BuildResult(b)
        )),
        vec(
            (derived_path(), build_result())
                .prop_map(|(path, result)| KeyedBuildResult { path, result }),
            0..3
        )
        .prop_map(|v| (
            Request::BuildPathsWithResults {
                paths: vec![],
                mode: BuildMode::Normal
            },
            Reply::BuildResults(v)
        )),
        btree_map(output_name(), proptest::option::of(p()), 0..3).prop_map(|m| (
            Request::QueryDerivationOutputMap(fixed_path()),
            Reply::OutputMap(m)
        )),
    ]
}

fn field() -> impl Strategy<Value = Field> {
    prop_oneof![
        any::<u64>().prop_map(Field::Int),
        bytes().prop_map(Field::String)
    ]
}

fn stderr_msg() -> impl Strategy<Value = StderrMsg> {
    prop_oneof![
        bytes().prop_map(StderrMsg::Next),
        any::<u64>().prop_map(StderrMsg::Read),
        bytes().prop_map(StderrMsg::Write),
        Just(StderrMsg::Last),
        (any::<u32>(), bytes(), vec(bytes(), 0..3), any::<u32>()).prop_map(
            |(level, message, traces, status)| StderrMsg::Error(RemoteError {
                level: Verbosity(level),
                message,
                traces,
                status
            })
        ),
        (
            any::<u64>(),
            any::<u32>(),
            any::<u32>(),
            bytes(),
            vec(field(), 0..4),
            any::<u64>()
        )
            .prop_map(|(id, level, kind, text, fields, parent)| {
                StderrMsg::StartActivity {
                    id,
                    level: Verbosity(level),
                    kind: ActivityType::from_code(kind),
                    text,
                    fields,
                    parent,
                }
            }),
        any::<u64>().prop_map(|id| StderrMsg::StopActivity { id }),
        (any::<u64>(), any::<u32>(), vec(field(), 0..4)).prop_map(|(id, kind, fields)| {
            StderrMsg::Result {
                id,
                kind: ResultType::from_code(kind),
                fields,
            }
        }),
    ]
}

fn fixed_path() -> StorePath {
    StorePath::from_base_name("ivlnvab4q9c7wbsvbfsvgaa15j9p6206-hello").expect("valid")
}

// ---------------------------------------------------------------------------------------
// What a value becomes after a trip through a given version

fn info_for(mut i: PathInfo, ver: Version) -> PathInfo {
    if !ver.at_least(16) {
        i.ultimate = false;
        i.sigs.clear();
        i.ca = None;
    }
    i
}

fn request_for(req: Request, ver: Version) -> Request {
    match req {
        Request::QueryValidPaths { paths, substitute } => Request::QueryValidPaths {
            paths,
            substitute: substitute && ver.at_least(27),
        },
        Request::QuerySubstitutablePathInfos(m) if !ver.at_least(22) => {
            Request::QuerySubstitutablePathInfos(m.into_keys().map(|k| (k, None)).collect())
        }
        Request::SetOptions(mut s) => {
            if !ver.at_least(12) {
                s.overrides.clear();
            }
            Request::SetOptions(s)
        }
        r => r,
    }
}

fn reply_for(reply: Reply, ver: Version) -> Reply {
    match reply {
        Reply::PathInfo(Some(i)) => Reply::PathInfo(Some(Box::new(info_for(*i, ver)))),
        Reply::ValidPathInfo(i) => Reply::ValidPathInfo(Box::new(info_for(*i, ver))),
        Reply::BuildResult(mut b) => {
            if !ver.at_least(29) {
                b.times_built = 0;
                b.is_non_deterministic = false;
                b.start_time = 0;
                b.stop_time = 0;
            }
            if !ver.at_least(28) {
                b.built_outputs.clear();
            }
            Reply::BuildResult(b)
        }
        r => r,
    }
}

fn stderr_for(msg: StderrMsg, ver: Version) -> StderrMsg {
    match msg {
        StderrMsg::Error(e) if ver.at_least(26) => StderrMsg::Error(RemoteError { status: 1, ..e }),
        StderrMsg::Error(e) => StderrMsg::Error(RemoteError {
            level: Verbosity::ERROR,
            traces: vec![],
            ..e
        }),
        m => m,
    }
}

/// Every strict prefix of `bytes` fails to decode.
fn prefixes_fail<T: std::fmt::Debug>(
    bytes: &[u8],
    decode: impl Fn(&mut Cursor<&[u8]>) -> Result<T>,
) -> std::result::Result<(), TestCaseError> {
    for cut in 0..bytes.len() {
        let mut c = Cursor::new(&bytes[..cut]);
        let r = decode(&mut c);
        prop_assert!(r.is_err(), "prefix of {} bytes decoded: {:?}", cut, r);
    }
    Ok(())
}

/// Decodes all of `bytes` (nothing may be left over).
fn decode_all<T>(bytes: &[u8], decode: impl Fn(&mut Cursor<&[u8]>) -> Result<T>) -> T {
    let mut c = Cursor::new(bytes);
    let v = decode(&mut c).expect("decodes");
    assert_eq!(c.position() as usize, bytes.len(), "trailing bytes");
    v
}

// ---------------------------------------------------------------------------------------
// Round trips

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn requests_round_trip(req in request(), ver in version()) {
        let d = dir();
        let mut buf = Vec::new();
        match req.write(&mut buf, ver, &d) {
            Err(WireError::NotInVersion { .. }) => return Ok(()),
            Err(e) => panic!("write failed: {e}"),
            Ok(()) => {}
        }
        let back = decode_all(&buf, |c| Request::read(c, ver, &d));
        prop_assert_eq!(back, request_for(req, ver));
        prefixes_fail(&buf, |c| Request::read(c, ver, &d))?;
    }

    #[test]
    fn replies_round_trip((req, reply) in exchange(), ver in version()) {
        let d = dir();
        let mismatch = match (&req, &reply) {
            (Request::QueryRealisation(_), Reply::Realisations(_)) => !ver.at_least(31),
            (Request::QueryRealisation(_), _) => ver.at_least(31),
            _ => false,
        };
        if mismatch {
            return Ok(());
        }
        let mut buf = Vec::new();
        match reply.write(&mut buf, ver, &d) {
            Err(WireError::NotInVersion { .. }) => return Ok(()),
            Err(e) => panic!("write failed: {e}"),
            Ok(()) => {}
        }
        let back = decode_all(&buf, |c| Reply::read(c, &req, ver, &d));
        prop_assert_eq!(back, reply_for(reply, ver));
        prefixes_fail(&buf, |c| Reply::read(c, &req, ver, &d))?;
    }

    #[test]
    fn stderr_round_trip(msg in stderr_msg(), ver in version()) {
        let mut buf = Vec::new();
        match msg.write(&mut buf, ver) {
            Err(WireError::NotInVersion { .. }) => {
                prop_assert!(!ver.at_least(20));
                return Ok(());
            }
            Err(e) => panic!("write failed: {e}"),
            Ok(()) => {}
        }
        let back = decode_all(&buf, |c| StderrMsg::read(c, ver));
        prop_assert_eq!(back, stderr_for(msg, ver));
        prefixes_fail(&buf, |c| StderrMsg::read(c, ver))?;
    }

    #[test]
    fn path_info_round_trip(info in path_info(), ver in version(), with_path in any::<bool>()) {
        let d = dir();
        let mut buf = Vec::new();
        write_path_info(&mut buf, &d, &info, ver, with_path).unwrap();
        let given = if with_path { None } else { Some(info.path.clone()) };
        let back = decode_all(&buf, |c| read_path_info(c, &d, ver, given.clone()));
        prop_assert_eq!(back, info_for(info, ver));
        prefixes_fail(&buf, |c| read_path_info(c, &d, ver, given.clone()))?;
    }

    #[test]
    fn derivation_round_trip(drv in basic_derivation()) {
        let d = dir();
        let mut buf = Vec::new();
        drv.write(&mut buf, &d).unwrap();
        let back = decode_all(&buf, |c| BasicDerivation::read(c, &d));
        prop_assert_eq!(&back, &drv);
        prefixes_fail(&buf, |c| BasicDerivation::read(c, &d))?;
        let again = BasicDerivation::from_derivation(&drv.to_derivation(&d), &d).unwrap();
        prop_assert_eq!(again, drv);
    }

    #[test]
    fn settings_round_trip(s in client_settings(), ver in version()) {
        let mut buf = Vec::new();
        s.write(&mut buf, ver).unwrap();
        let back = decode_all(&buf, |c| ClientSettings::read(c, ver));
        let mut want = s;
        if !ver.at_least(12) {
            want.overrides.clear();
        }
        prop_assert_eq!(back, want);
        prefixes_fail(&buf, |c| ClientSettings::read(c, ver))?;
    }

    #[test]
    fn derived_paths_round_trip(v in vec(derived_path(), 0..4), ver in version()) {
        let d = dir();
        let mut buf = Vec::new();
        match write_derived_paths(&mut buf, &d, ver, &v) {
            Err(WireError::NotInVersion { .. }) => {
                prop_assert!(!ver.at_least(30));
                return Ok(());
            }
            r => r.unwrap(),
        }
        let back = decode_all(&buf, |c| read_derived_paths(c, &d, ver));
        prop_assert_eq!(back, v);
    }

    #[test]
    fn handshake_round_trip(client in version(), server in version(), nix in "[0-9.]{0,10}") {
        // The client's half, fed the server's half as recorded, and the reverse.
        let mut server_out = Vec::new();
        let mut client_out = Vec::new();
        // A first pass learns what the client sends.
        let mut srv_greeting = Vec::new();
        write_u64(&mut srv_greeting, WORKER_MAGIC_2).unwrap();
        write_u64(&mut srv_greeting, u64::from(server.0)).unwrap();
        if client.min(server).at_least(33) {
            write_string(&mut srv_greeting, &nix).unwrap();
        }
        let si = client_handshake(&mut Cursor::new(&srv_greeting), &mut client_out, client).unwrap();
        prop_assert_eq!(si.version, client.min(server));
        let ci = server_handshake(&mut Cursor::new(&client_out), &mut server_out, server, &nix).unwrap();
        prop_assert_eq!(ci.version, client.min(server));
        prop_assert_eq!(ci.client_version, client);
        prop_assert_eq!(&server_out, &srv_greeting);
        prop_assert_eq!(si.nix_version, client.min(server).at_least(33).then_some(nix));
    }

    #[test]
    fn framed_round_trip(chunks in vec(bytes(), 0..6), frame in 1usize..20) {
        let mut w = FramedWriter::with_frame_size(Vec::new(), frame);
        let mut all = Vec::new();
        for c in &chunks {
            w.write_all(c).unwrap();
            all.extend_from_slice(c);
        }
        let mut buf = w.finish().unwrap();
        buf.extend_from_slice(b"after");
        let mut c = Cursor::new(&buf[..]);
        let mut rd = FramedReader::new(&mut c);
        let mut got = Vec::new();
        rd.read_to_end(&mut got).unwrap();
        prop_assert!(rd.is_done());
        prop_assert_eq!(got, all);
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).unwrap();
        prop_assert_eq!(rest, b"after".to_vec());
        // Any cut before the terminator is an error.
        let end = buf.len() - 5;
        for cut in 0..end {
            let mut rd = FramedReader::new(&buf[..cut]);
            prop_assert!(rd.read_to_end(&mut Vec::new()).is_err());
        }
    }

    #[test]
    fn nar_copy_round_trip(data in vec(any::<u8>(), 0..100), exec in any::<bool>()) {
        let mut nar = Vec::new();
        ferrix_store::nar::dump_bytes(&data, exec, &mut nar).unwrap();
        let mut input = nar.clone();
        input.extend_from_slice(b"next op");
        let mut c = Cursor::new(&input[..]);
        let mut out = Vec::new();
        let n = copy_nar(&mut c, &mut out).unwrap();
        prop_assert_eq!(n, nar.len() as u64);
        prop_assert_eq!(&out, &nar);
        prop_assert_eq!(c.position(), nar.len() as u64);
        for cut in 0..nar.len() {
            prop_assert!(skip_nar(&mut &nar[..cut]).is_err());
        }
    }
}

// ---------------------------------------------------------------------------------------
// Totality: arbitrary input never panics

/// One request of every operation a Nix 2.8 daemon serves, in each form.
fn sample_requests() -> Vec<Request> {
    let p = fixed_path;
    let none = BTreeSet::new;
    let mode = BuildMode::Normal;
    vec![
        Request::IsValidPath(p()),
        Request::HasSubstitutes(p()),
        Request::QueryPathHash(p()),
        Request::QueryReferences(p()),
        Request::QueryReferrers(p()),
        Request::AddToStore(AddToStore::Ca {
            name: "x".into(),
            method: CaMethod::Text,
            references: none(),
            repair: false,
        }),
        Request::AddToStore(AddToStore::Legacy {
            name: "x".into(),
            fixed: true,
            recursive: true,
            hash_algo: "sha256".into(),
        }),
        Request::AddTextToStore {
            name: "x".into(),
            text: vec![],
            references: none(),
        },
        Request::BuildPaths {
            paths: vec![],
            mode,
        },
        Request::EnsurePath(p()),
        Request::AddTempRoot(p()),
        Request::AddIndirectRoot(vec![]),
        Request::SyncWithGC,
        Request::FindRoots,
        Request::ExportPath(p()),
        Request::QueryDeriver(p()),
        Request::SetOptions(ClientSettings::default()),
        Request::CollectGarbage(GcOptions {
            action: GcAction::ReturnDead,
            paths_to_delete: none(),
            ignore_liveness: false,
            max_freed: 0,
        }),
        Request::QuerySubstitutablePathInfo(p()),
        Request::QueryDerivationOutputs(p()),
        Request::QueryAllValidPaths,
        Request::QueryPathInfo(p()),
        Request::ImportPaths,
        Request::QueryDerivationOutputNames(p()),
        Request::QueryPathFromHashPart(String::new()),
        Request::QuerySubstitutablePathInfos(BTreeMap::new()),
        Request::QueryValidPaths {
            paths: none(),
            substitute: false,
        },
        Request::QuerySubstitutablePaths(none()),
        Request::QueryValidDerivers(p()),
        Request::OptimiseStore,
        Request::VerifyStore {
            check_contents: false,
            repair: false,
        },
        Request::BuildDerivation {
            drv_path: p(),
            drv: Box::default(),
            mode,
        },
        Request::AddSignatures {
            path: p(),
            sigs: BTreeSet::new(),
        },
        Request::NarFromPath(p()),
        Request::AddToStoreNar {
            info: Box::new(PathInfo::new(p(), Hash::sha256(b""), 0)),
            repair: false,
            dont_check_sigs: false,
        },
        Request::QueryMissing(vec![]),
        Request::QueryDerivationOutputMap(p()),
        Request::RegisterDrvOutput(RegisterDrvOutput::Realisation(String::new())),
        Request::QueryRealisation(String::new()),
        Request::AddMultipleToStore {
            repair: false,
            dont_check_sigs: false,
        },
        Request::AddBuildLog(p()),
        Request::BuildPathsWithResults {
            paths: vec![],
            mode,
        },
    ]
}

#[test]
fn samples_cover_every_served_op() {
    let ops: BTreeSet<Op> = sample_requests().iter().map(Request::op).collect();
    let served: BTreeSet<Op> = Op::ALL
        .iter()
        .copied()
        .filter(|o| !matches!(o, Op::QueryFailedPaths | Op::ClearFailedPaths))
        .collect();
    assert_eq!(ops, served);
}

/// Runs every decoder on `data` at version `ver`; none may panic.
pub(crate) fn decode_everything(data: &[u8], ver: Version) {
    let d = dir();
    let _ = Request::read(&mut &data[..], ver, &d);
    for op in Op::ALL {
        let _ = Request::read_args(&mut &data[..], *op, ver, &d);
    }
    for req in sample_requests() {
        let _ = Reply::read(&mut &data[..], &req, ver, &d);
    }
    let _ = StderrMsg::read(&mut &data[..], ver);
    let _ = ClientSettings::read(&mut &data[..], ver);
    let _ = BasicDerivation::read(&mut &data[..], &d);
    let _ = read_path_info(&mut &data[..], &d, ver, None);
    let _ = read_derived_paths(&mut &data[..], &d, ver);
    let _ = BuildResult::read(&mut &data[..], ver);
    let _ = KeyedBuildResult::read(&mut &data[..], &d);
    let _ = SubstitutablePathInfo::read(&mut &data[..], &d);
    let _ = client_handshake(&mut &data[..], &mut std::io::sink(), ver);
    let _ = server_handshake(&mut &data[..], &mut std::io::sink(), ver, "2.8.0");
    let _ = FramedReader::new(data).read_to_end(&mut Vec::new());
    let _ = copy_nar(&mut &data[..], &mut std::io::sink());
    let _ = TunnelReader::new(data, std::io::sink()).read_to_end(&mut Vec::new());
    let _ = read_bytes_list(&mut &data[..]);
    let _ = read_string_map(&mut &data[..], "x");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(data in vec(any::<u8>(), 0..200), ver in version()) {
        decode_everything(&data, ver);
    }

    /// Valid encodings with one word changed: deeper into the decoders than random bytes.
    #[test]
    fn mutated_requests_never_panic(
        req in request(),
        ver in version(),
        at in any::<prop::sample::Index>(),
        word in prop_oneof![Just(0u64), Just(1), Just(u64::MAX), Just(1 << 60), any::<u64>()],
    ) {
        let mut buf = Vec::new();
        if req.write(&mut buf, ver, &dir()).is_err() || buf.len() < 8 {
            return Ok(());
        }
        let i = at.index(buf.len() / 8) * 8;
        buf[i..i + 8].copy_from_slice(&word.to_le_bytes());
        decode_everything(&buf, ver);
    }
}

// ---------------------------------------------------------------------------------------
// Huge lengths

/// 1 << 60 followed by a few bytes.
fn huge() -> Vec<u8> {
    let mut v = (1u64 << 60).to_le_bytes().to_vec();
    v.extend_from_slice(b"abcdefgh");
    v
}

#[test]
fn huge_lengths_fail_fast() {
    let d = dir();
    let h = huge();
    assert!(read_bytes(&mut &h[..]).unwrap_err().is_eof());
    assert!(read_string(&mut &h[..], "x").unwrap_err().is_eof());
    assert!(read_bytes_list(&mut &h[..]).unwrap_err().is_eof());
    assert!(read_path_set(&mut &h[..], &d).unwrap_err().is_eof());
    assert!(matches!(
        read_bytes_max(&mut &h[..], 1024),
        Err(WireError::StringTooLong { .. })
    ));
    let mut rd = FramedReader::new(&h[..]);
    assert!(rd.read_to_end(&mut Vec::new()).is_err());
    // As an operation's argument, a count, and a field of a log message.
    let mut req = 31u64.to_le_bytes().to_vec();
    req.extend_from_slice(&h);
    assert!(Request::read(&mut &req[..], Version::CURRENT, &d)
        .unwrap_err()
        .is_eof());
    let mut msg = logger::STDERR_NEXT.to_le_bytes().to_vec();
    msg.extend_from_slice(&h);
    assert!(StderrMsg::read(&mut &msg[..], Version::CURRENT)
        .unwrap_err()
        .is_eof());
    // A NAR whose file claims 2^60 bytes.
    let mut nar = Vec::new();
    for s in ["nix-archive-1", "(", "type", "regular", "contents"] {
        write_string(&mut nar, s).unwrap();
    }
    nar.extend_from_slice(&h);
    assert!(skip_nar(&mut &nar[..]).unwrap_err().is_eof());
}

// ---------------------------------------------------------------------------------------
// Byte-exact encodings, laid out by hand from Nix 2.8's sources

/// Little helpers that spell out the layout independently of the code under test.
fn w(n: u64) -> Vec<u8> {
    n.to_le_bytes().to_vec()
}

fn s(text: &str) -> Vec<u8> {
    let mut v = w(text.len() as u64);
    v.extend_from_slice(text.as_bytes());
    while !v.len().is_multiple_of(8) {
        v.push(0);
    }
    v
}

fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

#[test]
fn client_greeting_as_nix_2_8_sends_it() {
    // RemoteStore::initConnection: magic; then, for a 1.34 daemon: our version, 0 for no
    // CPU affinity, 0 for reserveSpace; then the daemon's Nix version is read.
    let server = cat(&[w(0x6478696f), w(0x122), s("2.8.0")]);
    let mut sent = Vec::new();
    let info = client_handshake(&mut &server[..], &mut sent, Version::CURRENT).unwrap();
    assert_eq!(sent, cat(&[w(0x6e697863), w(0x122), w(0), w(0)]));
    assert_eq!(info.nix_version.as_deref(), Some("2.8.0"));
    assert_eq!(info.version, Version::CURRENT);

    // daemon.cc processConnection answers it so.
    let mut answer = Vec::new();
    let ci = server_handshake(&mut &sent[..], &mut answer, Version::CURRENT, "2.8.0").unwrap();
    assert_eq!(answer, server);
    assert_eq!(ci.cpu_affinity, None);
    assert!(!ci.reserve_space);
}

#[test]
fn old_and_foreign_clients_are_refused() {
    let greet = |v: u64| cat(&[w(0x6e697863), w(v), w(0), w(0)]);
    let run = |v| {
        server_handshake(
            &mut &greet(v)[..],
            &mut Vec::new(),
            Version::CURRENT,
            "2.8.0",
        )
    };
    assert!(matches!(run(0x109), Err(WireError::ClientTooOld(_))));
    assert!(matches!(run(0x20a), Err(WireError::UnsupportedMajor(_))));
    assert!(matches!(
        run(1 << 40),
        Err(WireError::IntegerTooLarge { .. })
    ));
    assert!(run(0x10a).is_ok());
    let bad = cat(&[w(0x1234)]);
    assert!(matches!(
        server_handshake(&mut &bad[..], &mut Vec::new(), Version::CURRENT, "2.8.0"),
        Err(WireError::BadMagic { .. })
    ));
    // A 1.14 client that asks for a CPU affinity: the word after the flag is read too.
    let with_affinity = cat(&[w(0x6e697863), w(0x10e), w(1), w(3), w(0)]);
    let ci = server_handshake(
        &mut &with_affinity[..],
        &mut Vec::new(),
        Version::CURRENT,
        "x",
    )
    .unwrap();
    assert_eq!(ci.cpu_affinity, Some(3));
    assert_eq!(ci.version, Version::new(1, 14));
}

#[test]
fn query_path_info_reply_bytes() {
    // daemon.cc wopQueryPathInfo at 1.34: 1 (valid), then ValidPathInfo::write without
    // the path: deriver, narHash in bare base 16, references, registrationTime, narSize,
    // ultimate, sigs, ca.
    let d = dir();
    let path = fixed_path();
    let dep = StorePath::from_base_name("0000000000000000000000000000000a-dep").unwrap();
    let info = PathInfo {
        path: path.clone(),
        nar_hash: Hash {
            algo: HashAlgo::Sha256,
            bytes: vec![0xab; 32],
        },
        nar_size: 120,
        registration_time: 1_650_000_000,
        deriver: None,
        references: [dep].into_iter().collect(),
        ultimate: true,
        sigs: vec!["cache.example.org-1:c2ln".into()],
        ca: None,
    };
    let mut got = Vec::new();
    Reply::PathInfo(Some(Box::new(info.clone())))
        .write(&mut got, Version::CURRENT, &d)
        .unwrap();
    let want = cat(&[
        w(1),
        s(""),
        s(&"ab".repeat(32)),
        w(1),
        s("/nix/store/0000000000000000000000000000000a-dep"),
        w(1_650_000_000),
        w(120),
        w(1),
        w(1),
        s("cache.example.org-1:c2ln"),
        s(""),
    ]);
    assert_eq!(got, want);
    let back = Reply::read(
        &mut &want[..],
        &Request::QueryPathInfo(path.clone()),
        Version::CURRENT,
        &d,
    )
    .unwrap();
    assert_eq!(back, Reply::PathInfo(Some(Box::new(info))));
    // An invalid path: just 0. Before 1.17 there is no flag.
    let invalid = Reply::read(
        &mut &w(0)[..],
        &Request::QueryPathInfo(path),
        Version::CURRENT,
        &d,
    );
    assert_eq!(invalid.unwrap(), Reply::PathInfo(None));
}

#[test]
fn set_options_bytes() {
    // RemoteStore::setOptions with Nix's defaults and one override.
    let mut settings = ClientSettings::default();
    settings.overrides.insert("sandbox".into(), "false".into());
    let mut got = Vec::new();
    Request::SetOptions(settings.clone())
        .write(&mut got, Version::CURRENT, &dir())
        .unwrap();
    let want = cat(&[
        w(19),
        w(0),
        w(0),
        w(0),
        w(3),
        w(1),
        w(0),
        w(1),
        w(0), // verboseBuild: lvlError
        w(0),
        w(0),
        w(0),
        w(1),
        w(1),
        s("sandbox"),
        s("false"),
    ]);
    assert_eq!(got, want);
    // A name sent twice keeps its first value.
    let twice = cat(&[
        want[8..8 * 13].to_vec(),
        w(2),
        s("a"),
        s("1"),
        s("a"),
        s("2"),
    ]);
    let back = ClientSettings::read(&mut &twice[..], Version::CURRENT).unwrap();
    assert_eq!(back.overrides.get("a").map(String::as_str), Some("1"));
}

#[test]
fn structured_and_legacy_errors() {
    let e = RemoteError {
        level: Verbosity::ERROR,
        message: b"boom".to_vec(),
        traces: vec![b"while doing".to_vec()],
        status: 1,
    };
    let mut got = Vec::new();
    StderrMsg::Error(e.clone())
        .write(&mut got, Version::CURRENT)
        .unwrap();
    let want = cat(&[
        w(0x63787470),
        s("Error"),
        w(0),
        s("Error"),
        s("boom"),
        w(0),
        w(1),
        w(0),
        s("while doing"),
    ]);
    assert_eq!(got, want);
    let mut legacy = Vec::new();
    StderrMsg::Error(RemoteError { status: 100, ..e })
        .write(&mut legacy, Version::new(1, 25))
        .unwrap();
    assert_eq!(legacy, cat(&[w(0x63787470), s("boom"), w(100)]));
    // A position Nix never sends, and a kind other than "Error", are refused.
    let mut with_pos = want.clone();
    with_pos[64..72].copy_from_slice(&w(1));
    assert!(StderrMsg::read(&mut &with_pos[..], Version::CURRENT).is_err());
}

#[test]
fn activity_bytes_and_downgrade() {
    let m = StderrMsg::StartActivity {
        id: 7,
        level: Verbosity::INFO,
        kind: ActivityType::Build,
        text: b"building".to_vec(),
        fields: vec![Field::String(b"/nix/store/x.drv".to_vec()), Field::Int(1)],
        parent: 0,
    };
    let mut got = Vec::new();
    m.write(&mut got, Version::CURRENT).unwrap();
    let want = cat(&[
        w(0x53545254),
        w(7),
        w(3),
        w(105),
        s("building"),
        w(2),
        w(1),
        s("/nix/store/x.drv"),
        w(0),
        w(1),
        w(0),
    ]);
    assert_eq!(got, want);
    assert_eq!(
        m.clone().for_version(Version::new(1, 19)),
        Some(StderrMsg::Next(b"building...\n".to_vec()))
    );
    assert_eq!(m.clone().for_version(Version::CURRENT), Some(m));
    assert_eq!(
        StderrMsg::StopActivity { id: 1 }.for_version(Version::new(1, 19)),
        None
    );
    assert_eq!(ActivityType::from_code(112), ActivityType::Other(112));
    assert_eq!(ResultType::BuildLogLine.code(), 101);
}

#[test]
fn derived_path_forms() {
    let d = dir();
    let drv = StorePath::from_base_name("ivlnvab4q9c7wbsvbfsvgaa15j9p6206-hello.drv").unwrap();
    let full = d.display(&drv);
    let all = DerivedPath::Built {
        drv: drv.clone(),
        outputs: BTreeSet::new(),
    };
    let some = DerivedPath::Built {
        drv: drv.clone(),
        outputs: ["dev".to_string(), "out".to_string()].into_iter().collect(),
    };
    assert_eq!(all.to_string(&d), format!("{full}!*"));
    assert_eq!(some.to_string(&d), format!("{full}!dev,out"));
    assert_eq!(all.to_legacy_string(&d, Version::new(1, 29)).unwrap(), full);
    assert_eq!(DerivedPath::parse(&format!("{full}!"), &d).unwrap(), all);
    assert_eq!(
        DerivedPath::parse(&format!("{full}!out,,dev"), &d).unwrap(),
        some
    );
    assert_eq!(DerivedPath::parse_legacy(&full, &d).unwrap(), all);
    assert_eq!(
        DerivedPath::parse(&full, &d).unwrap(),
        DerivedPath::Opaque(drv.clone())
    );
    assert!(DerivedPath::Opaque(drv)
        .to_legacy_string(&d, Version::new(1, 29))
        .is_err());
    assert!(DerivedPath::parse("/tmp/x!out", &d).is_err());
}

#[test]
fn framed_bytes() {
    let mut fw = FramedWriter::new(Vec::new());
    fw.write_all(b"hello").unwrap();
    let out = fw.finish().unwrap();
    // No padding inside frames.
    assert_eq!(out, cat(&[w(5), b"hello".to_vec(), w(0)]));
}

#[test]
fn add_to_store_bytes() {
    // RemoteStore::addCAToStore at 1.25+: name, method, references, repair.
    let req = Request::AddToStore(AddToStore::Ca {
        name: "foo".into(),
        method: CaMethod::Fixed {
            method: Ingestion::Recursive,
            algo: HashAlgo::Sha256,
        },
        references: BTreeSet::new(),
        repair: false,
    });
    let mut got = Vec::new();
    req.write(&mut got, Version::CURRENT, &dir()).unwrap();
    assert_eq!(got, cat(&[w(7), s("foo"), s("fixed:r:sha256"), w(0), w(0)]));
    assert_eq!(req.payload(Version::CURRENT), Payload::Framed);
    // The old form: name, fixed (0 for recursive SHA-256), recursive, algorithm.
    let old = cat(&[w(7), s("foo"), w(0), w(1), s("sha256")]);
    let back = Request::read(&mut &old[..], Version::new(1, 24), &dir()).unwrap();
    assert_eq!(back.payload(Version::new(1, 24)), Payload::Nar);
    let Request::AddToStore(a) = back else {
        panic!("not AddToStore")
    };
    assert_eq!(
        a.method().unwrap(),
        CaMethod::Fixed {
            method: Ingestion::Recursive,
            algo: HashAlgo::Sha256
        }
    );
    for m in ["text:sha256", "fixed:sha1", "fixed:r:sha512"] {
        assert_eq!(CaMethod::parse(m).unwrap().to_string(), m);
    }
    for m in ["text:sha1", "fixed:r:", "foo:sha256", "fixed"] {
        assert!(CaMethod::parse(m).is_err(), "{m}");
    }
}

#[test]
fn op_codes() {
    assert_eq!(Op::ALL.len(), 43);
    assert_eq!(Op::IsValidPath.code(), 1);
    assert_eq!(Op::BuildPathsWithResults.code(), 46);
    assert_eq!(
        Op::from_code(2).unwrap_err().to_string(),
        "invalid operation 2"
    );
    for op in Op::ALL {
        assert_eq!(Op::from_code(op.code()).unwrap(), *op);
    }
    assert_eq!(Op::AddToStoreNar.name(), "wopAddToStoreNar");
}

#[test]
fn strict_primitives() {
    // Non-zero padding, bad UTF-8, paths outside the store, big ints where Nix reads
    // `unsigned int`.
    let mut bad_pad = s("abc");
    bad_pad[12] = 1;
    assert!(matches!(
        read_bytes(&mut &bad_pad[..]),
        Err(WireError::NonZeroPadding)
    ));
    let not_utf8 = cat(&[w(2), vec![0xff, 0xfe, 0, 0, 0, 0, 0, 0]]);
    assert!(matches!(
        read_string(&mut &not_utf8[..], "x"),
        Err(WireError::NotUtf8 { .. })
    ));
    assert!(matches!(
        read_path(&mut &s("/tmp/foo")[..], &dir()),
        Err(WireError::Path(_))
    ));
    assert!(matches!(
        read_u32(&mut &w(1 << 32)[..], "x"),
        Err(WireError::IntegerTooLarge { .. })
    ));
    assert!(matches!(
        read_time(&mut &w(u64::MAX)[..]),
        Err(WireError::IntegerTooLarge { .. })
    ));
    // Unknown log message codes.
    assert!(matches!(
        StderrMsg::read(&mut &w(42)[..], Version::CURRENT),
        Err(WireError::UnknownStderr(42))
    ));
}

#[test]
fn gc_and_substitutes_bytes() {
    let d = dir();
    let req = Request::CollectGarbage(GcOptions {
        action: GcAction::DeleteSpecific,
        paths_to_delete: [fixed_path()].into_iter().collect(),
        ignore_liveness: false,
        max_freed: u64::MAX,
    });
    let mut got = Vec::new();
    req.write(&mut got, Version::CURRENT, &d).unwrap();
    assert_eq!(
        got,
        cat(&[
            w(20),
            w(3),
            w(1),
            s(&d.display(&fixed_path())),
            w(0),
            w(u64::MAX),
            w(0),
            w(0),
            w(0)
        ])
    );
    let reply = cat(&[w(1), s("/nix/store/abc"), w(4096), w(0)]);
    let r = Reply::read(&mut &reply[..], &req, Version::CURRENT, &d).unwrap();
    assert_eq!(
        r,
        Reply::Gc(GcResult {
            paths: [b"/nix/store/abc".to_vec()].into_iter().collect(),
            bytes_freed: 4096
        })
    );
    // Before 1.22 QuerySubstitutablePathInfos sends only paths.
    let q = Request::QuerySubstitutablePathInfos(
        [(fixed_path(), Some("fixed:sha1:x".into()))]
            .into_iter()
            .collect(),
    );
    let mut old = Vec::new();
    q.write(&mut old, Version::new(1, 21), &d).unwrap();
    assert_eq!(old, cat(&[w(30), w(1), s(&d.display(&fixed_path()))]));
}

#[test]
fn payload_kinds() {
    let info = Box::new(PathInfo::new(fixed_path(), Hash::sha256(b""), 0));
    let nar = Request::AddToStoreNar {
        info,
        repair: false,
        dont_check_sigs: false,
    };
    assert_eq!(nar.payload(Version::new(1, 23)), Payload::Framed);
    assert_eq!(nar.payload(Version::new(1, 21)), Payload::OnRequest);
    assert_eq!(nar.payload(Version::new(1, 20)), Payload::Nar);
    assert_eq!(
        Request::ImportPaths.payload(Version::CURRENT),
        Payload::OnRequest
    );
    assert_eq!(Request::FindRoots.payload(Version::CURRENT), Payload::None);
}

#[test]
fn tunnelled_data() {
    // The client answers three STDERR_READ requests; an empty string ends the data.
    let answers = cat(&[s("hel"), s("lo"), s("")]);
    let mut requests = Vec::new();
    let mut tr = TunnelReader::new(&answers[..], &mut requests);
    let mut got = Vec::new();
    tr.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"hello");
    let mut c = Cursor::new(&requests[..]);
    for _ in 0..3 {
        let StderrMsg::Read(n) = StderrMsg::read(&mut c, Version::CURRENT).unwrap() else {
            panic!("not a read request")
        };
        assert!(n > 0 && n <= logger::MAX_READ_REQUEST as u64);
    }
    // An answer longer than asked for is refused.
    let long = s("0123456789");
    let mut tr = TunnelReader::new(&long[..], Vec::new());
    assert!(tr.read(&mut [0u8; 4]).is_err());
    // The client's side.
    let mut out = Vec::new();
    assert_eq!(answer_read(&mut &b"abc"[..], &mut out, 2).unwrap(), 2);
    assert_eq!(out, s("ab"));
    let mut out = Vec::new();
    assert_eq!(answer_read(&mut &b""[..], &mut out, 1 << 60).unwrap(), 0);
    assert_eq!(out, s(""));
    // ExportPath's data goes out as STDERR_WRITE messages.
    let mut tw = TunnelWriter::new(Vec::new());
    tw.write_all(b"xy").unwrap();
    let out = tw.into_inner();
    assert_eq!(out, cat(&[w(0x64617416), s("xy")]));
}

#[test]
fn add_multiple_stream() {
    let d = dir();
    let mut nar = Vec::new();
    ferrix_store::nar::dump_bytes(b"contents", false, &mut nar).unwrap();
    let infos: Vec<PathInfo> = ["a", "b"]
        .iter()
        .map(|n| {
            let p = StorePath::from_parts(&[1; 20], n).unwrap();
            PathInfo::new(p, Hash::sha256(&nar), nar.len() as u64)
        })
        .collect();
    let mut fw = FramedWriter::with_frame_size(Vec::new(), 7);
    write_u64(&mut fw, infos.len() as u64).unwrap();
    for i in &infos {
        write_multiple_entry(&mut fw, &d, i, &mut &nar[..]).unwrap();
    }
    let buf = fw.finish().unwrap();
    let mut fr = FramedReader::new(&buf[..]);
    let n = read_u64(&mut fr).unwrap();
    assert_eq!(n, 2);
    for want in &infos {
        let got = read_multiple_entry_info(&mut fr, &d).unwrap();
        assert_eq!(&got, want);
        let mut copy = Vec::new();
        copy_nar(&mut fr, &mut copy).unwrap();
        assert_eq!(copy, nar);
    }
    assert_eq!(fr.drain().unwrap(), 0);
    assert!(fr.is_done());
}
