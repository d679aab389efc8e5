//! `builtins.hashString` and `builtins.hashFile` against Nix 2.8.
//!
//! Every expected output and message below was printed by Nix 2.8.0 (`nix-instantiate --eval
//! --strict -E EXPR`, with `NIX_REMOTE=dummy://`), the files under `/tmp/ferrix-hash` holding
//! what [`make_files`] writes.

mod common;
use common::*;

/// The files the `hashFile` cases read.
fn make_files() {
    let dir = std::path::Path::new("/tmp/ferrix-hash");
    std::fs::create_dir_all(dir.join("dir")).expect("create /tmp/ferrix-hash");
    let binary: Vec<u8> = (0..3).flat_map(|_| 0..=255u8).collect();
    let files: [(&str, Vec<u8>); 4] = [
        ("empty", Vec::new()),
        ("hello", b"hello\n".to_vec()),
        ("binary", binary),
        ("big", vec![b'x'; 200_000]),
    ];
    for (name, content) in files {
        let path = dir.join(name);
        if std::fs::read(&path).ok().as_deref() != Some(&content[..]) {
            // Written beside and renamed, so a concurrent run never reads half a file.
            let tmp = dir.join(format!(".{name}.{}", std::process::id()));
            std::fs::write(&tmp, &content).expect("write a test file");
            std::fs::rename(&tmp, &path).expect("rename a test file");
        }
    }
    let link = dir.join("link");
    if std::fs::read_link(&link).is_err() {
        let _ = std::os::unix::fs::symlink("hello", &link);
    }
}

#[test]
fn hashes_match_nix() {
    make_files();
    check_table(HASH_OK, HASH_ERR);
}

#[test]
fn unknown_algorithms_are_not_caught_by_try_eval() {
    let got = eval_strict("builtins.tryEval (builtins.hashString \"foo\" \"x\")");
    assert_eq!(got, Err(("unknown hash algorithm 'foo'".into(), None)));
}

/// `nix-instantiate --eval --strict -E EXPR` printed these with Nix 2.8.0.
const HASH_OK: &[(&str, &str)] = &[
    (
        r#"builtins.hashString "md5" """#,
        r#""d41d8cd98f00b204e9800998ecf8427e""#,
    ),
    (
        r#"builtins.hashString "md5" "text 1""#,
        r#""6c69ee7f211c640419d5366cc076ae46""#,
    ),
    (
        r#"builtins.hashString "md5" "hello world
""#,
        r#""6f5902ac237024bdd0c176cb93063dc4""#,
    ),
    (
        r#"builtins.hashString "md5" "é ☃ 😀""#,
        r#""97d88d46248f8e53d141f7a51b24e2ef""#,
    ),
    (
        r#"builtins.hashString "md5" "${"$"}{x} \"q\"""#,
        r#""e2b511b3eb242e12e3ee583de992af37""#,
    ),
    (
        r#"builtins.hashString "sha1" """#,
        r#""da39a3ee5e6b4b0d3255bfef95601890afd80709""#,
    ),
    (
        r#"builtins.hashString "sha1" "text 1""#,
        r#""cd54e8568c1b37cf1e5badb0779bcbf382212189""#,
    ),
    (
        r#"builtins.hashString "sha1" "hello world
""#,
        r#""22596363b3de40b06f981fb85d82312e8c0ed511""#,
    ),
    (
        r#"builtins.hashString "sha1" "é ☃ 😀""#,
        r#""b8de44830a739f8079d5db75bd0285df42ee3bfe""#,
    ),
    (
        r#"builtins.hashString "sha1" "${"$"}{x} \"q\"""#,
        r#""3750ea701903c15e95e71142624f99926c493c0e""#,
    ),
    (
        r#"builtins.hashString "sha256" """#,
        r#""e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855""#,
    ),
    (
        r#"builtins.hashString "sha256" "text 1""#,
        r#""900a4469df00ccbfd0c145c6d1e4b7953dd0afafadd7534e3a4019e8d38fc663""#,
    ),
    (
        r#"builtins.hashString "sha256" "hello world
""#,
        r#""a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447""#,
    ),
    (
        r#"builtins.hashString "sha256" "é ☃ 😀""#,
        r#""ef3df95fb317f3a0d528b27ffc842052650fc0aa63a9d0297726f3ae0c1cc590""#,
    ),
    (
        r#"builtins.hashString "sha256" "${"$"}{x} \"q\"""#,
        r#""6e50b6e4e329d8950023bef50798edd19f6aee3b37ddddb9c2935874fb7cd6a4""#,
    ),
    (
        r#"builtins.hashString "sha512" """#,
        r#""cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e""#,
    ),
    (
        r#"builtins.hashString "sha512" "text 1""#,
        r#""9d0886f8c6b389398a16257bc79780fab9831c7fc11c8ab07fa732cb7b348feade382f92617c9c5305fefba0af02ab5fd39a587d330997ff5bd0db19f7666653""#,
    ),
    (
        r#"builtins.hashString "sha512" "hello world
""#,
        r#""db3974a97f2407b7cae1ae637c0030687a11913274d578492558e39c16c017de84eacdc8c62fe34ee4e12b4b1428817f09b6a2760c3f8a664ceae94d2434a593""#,
    ),
    (
        r#"builtins.hashString "sha512" "é ☃ 😀""#,
        r#""52b0f516710cf2eedeb8ca2e5e9d8a060c1667ce0f173d0596d8d6e59fdb25d05aa8a557ceeb0180b2a53460dc3a60505a3ab60531a60be51497471d9517c2c9""#,
    ),
    (
        r#"builtins.hashString "sha512" "${"$"}{x} \"q\"""#,
        r#""d145aa1b0c8bc9c5e5ff2f55a8eb8472995b1b22343dc3dad198a2ff5dba812a9ab7dd7ac73d6e8682a3b65da456e31791a89dcda79f888134bef651aaa52ff7""#,
    ),
    (
        r#"builtins.hashString "sha256" (builtins.concatStringsSep "" (builtins.genList (x: "abcdefghij") 1000))"#,
        r#""dce9b45e4f753351e0334bbae236195ad216b15c9b29fa0872dadd83cd10854d""#,
    ),
    (
        r#"builtins.hashString "md5" (builtins.appendContext "x" { "/nix/store/lfngsssysp6h1v4ccqg23c52s9sjl779-x" = { path = true; }; })"#,
        r#""9dd4e461268c8034f5c8564e155c67a6""#,
    ),
    (
        r#"builtins.getContext (builtins.hashString "md5" (builtins.appendContext "x" { "/nix/store/lfngsssysp6h1v4ccqg23c52s9sjl779-x" = { path = true; }; }))"#,
        r#"{ }"#,
    ),
    (
        r#"builtins.stringLength (builtins.hashString "sha512" "")"#,
        r#"128"#,
    ),
    (r#"builtins.hashString "sha1""#, r#"<PRIMOP-APP>"#),
    (
        r#"builtins.hashFile "md5" /tmp/ferrix-hash/empty"#,
        r#""d41d8cd98f00b204e9800998ecf8427e""#,
    ),
    (
        r#"builtins.hashFile "md5" /tmp/ferrix-hash/hello"#,
        r#""b1946ac92492d2347c6235b4d2611184""#,
    ),
    (
        r#"builtins.hashFile "md5" /tmp/ferrix-hash/binary"#,
        r#""e6899eaaf06fd702f3ed3f988eb19362""#,
    ),
    (
        r#"builtins.hashFile "md5" /tmp/ferrix-hash/big"#,
        r#""4b98146705d4b0b98b758a78ff6fb73f""#,
    ),
    (
        r#"builtins.hashFile "sha1" /tmp/ferrix-hash/empty"#,
        r#""da39a3ee5e6b4b0d3255bfef95601890afd80709""#,
    ),
    (
        r#"builtins.hashFile "sha1" /tmp/ferrix-hash/hello"#,
        r#""f572d396fae9206628714fb2ce00f72e94f2258f""#,
    ),
    (
        r#"builtins.hashFile "sha1" /tmp/ferrix-hash/binary"#,
        r#""ac2a264c8ec1f4232a40854e8239bc3a697ab1d2""#,
    ),
    (
        r#"builtins.hashFile "sha1" /tmp/ferrix-hash/big"#,
        r#""62951f943c41cdd326e5ce2b53a779e7916a820d""#,
    ),
    (
        r#"builtins.hashFile "sha256" /tmp/ferrix-hash/empty"#,
        r#""e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855""#,
    ),
    (
        r#"builtins.hashFile "sha256" /tmp/ferrix-hash/hello"#,
        r#""5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03""#,
    ),
    (
        r#"builtins.hashFile "sha256" /tmp/ferrix-hash/binary"#,
        r#""f3a25aa93aa2fbba28d79260535bbd6a5eb0fc1c24a8b0f04e12b484c1dfe363""#,
    ),
    (
        r#"builtins.hashFile "sha256" /tmp/ferrix-hash/big"#,
        r#""91e3faafd322bcdf160f3f0ce886acb092b9b9e2a1e8526b40f21a8898a8700b""#,
    ),
    (
        r#"builtins.hashFile "sha512" /tmp/ferrix-hash/empty"#,
        r#""cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e""#,
    ),
    (
        r#"builtins.hashFile "sha512" /tmp/ferrix-hash/hello"#,
        r#""e7c22b994c59d9cf2b48e549b1e24666636045930d3da7c1acb299d1c3b7f931f94aae41edda2c2b207a36e10f8bcb8d45223e54878f5b316e7ce3b6bc019629""#,
    ),
    (
        r#"builtins.hashFile "sha512" /tmp/ferrix-hash/binary"#,
        r#""f1721f49518ee462a3d81def26d81037cd474b4254b85ad7c8f1509594d0177bbb996ee9625813852bacac108c2a72c83a8587050fec1dcda64730d6470953e6""#,
    ),
    (
        r#"builtins.hashFile "sha512" /tmp/ferrix-hash/big"#,
        r#""810c4d8e4bc69c275232f4e45b4d6cde7ff37c2decdd217fe3fa502a019e254ad3addcabb7f7f834b6281ab8b66441102d86f6e83b94415e757a2719400b9d11""#,
    ),
    (
        r#"builtins.hashFile "sha256" "/tmp/ferrix-hash/hello""#,
        r#""5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03""#,
    ),
    (
        r#"builtins.hashFile "sha256" /tmp/ferrix-hash/link"#,
        r#""5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03""#,
    ),
    (
        r#"builtins.hashFile "sha256" "/tmp/ferrix-hash/./dir/../hello""#,
        r#""5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03""#,
    ),
    (
        r#"builtins.hashFile "md5" { outPath = "/tmp/ferrix-hash/hello"; }"#,
        r#""b1946ac92492d2347c6235b4d2611184""#,
    ),
];

/// Nix 2.8.0 failed on these with this message, at this position (if any).
const HASH_ERR: &[(&str, &str, Option<&str>)] = &[
    (
        r#"builtins.hashString "foo" "x""#,
        r#"unknown hash algorithm 'foo'"#,
        None,
    ),
    (
        r#"builtins.hashString "SHA256" "x""#,
        r#"unknown hash algorithm 'SHA256'"#,
        None,
    ),
    (
        r#"builtins.hashString "sha-256" "x""#,
        r#"unknown hash algorithm 'sha-256'"#,
        None,
    ),
    (
        r#"builtins.hashString "" "x""#,
        r#"unknown hash algorithm ''"#,
        None,
    ),
    (
        r#"builtins.hashString "md5" 1"#,
        r#"value is an integer while a string was expected"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.hashString 1 "x""#,
        r#"value is an integer while a string was expected"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.hashString "md5" ./x"#,
        r#"value is a path while a string was expected"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.hashString "md5" { outPath = "x"; }"#,
        r#"value is a set while a string was expected"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.hashString "md5" (throw "boom")"#,
        r#"boom"#,
        None,
    ),
    (
        r#"builtins.hashString "foo" (throw "boom")"#,
        r#"unknown hash algorithm 'foo'"#,
        None,
    ),
    (
        r#"builtins.hashString "${builtins.appendContext "md5" { "/nix/store/lfngsssysp6h1v4ccqg23c52s9sjl779-x" = { path = true; }; }}" "x""#,
        r#"the string 'md5' is not allowed to refer to a store path (such as '/nix/store/lfngsssysp6h1v4ccqg23c52s9sjl779-x')"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.tryEval (builtins.hashString "foo" "x")"#,
        r#"unknown hash algorithm 'foo'"#,
        None,
    ),
    (
        r#"builtins.hashFile "sha256" /tmp/ferrix-hash/missing"#,
        r#"opening file '/tmp/ferrix-hash/missing': No such file or directory"#,
        None,
    ),
    (
        r#"builtins.hashFile "sha256" /tmp/ferrix-hash/dir"#,
        r#"reading from file: Is a directory"#,
        None,
    ),
    (
        r#"builtins.hashFile "sha256" "hello""#,
        r#"string 'hello' doesn't represent an absolute path"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.hashFile "sha256" 1"#,
        r#"cannot coerce an integer to a string"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.hashFile "foo" /tmp/ferrix-hash/hello"#,
        r#"unknown hash algorithm 'foo'"#,
        None,
    ),
    (
        r#"builtins.hashFile "foo" /tmp/ferrix-hash/missing"#,
        r#"unknown hash algorithm 'foo'"#,
        None,
    ),
];
