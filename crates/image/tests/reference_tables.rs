#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Table tests ported from docker/distribution `reference` v2.8.1
//! (reference_test.go, normalize_test.go, regexp_test.go), plus the IPv6
//! cases of the newer github.com/distribution/reference.

use image::reference::{
    parse, parse_any_reference, parse_docker_ref, parse_named, parse_normalized_named, Named,
    Reference, ReferenceError,
};
use image::Digest;

const F64: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

#[derive(Debug, Clone, Copy, PartialEq)]
enum E {
    NameEmpty,
    InvalidFormat,
    Uppercase,
    TooLong,
    DigestLength,
    DigestUnsupported,
}

fn kind(err: &ReferenceError) -> E {
    use image::DigestError as D;
    match err {
        ReferenceError::NameEmpty => E::NameEmpty,
        ReferenceError::InvalidFormat { .. } => E::InvalidFormat,
        ReferenceError::NameContainsUppercase { .. } => E::Uppercase,
        ReferenceError::NameTooLong { .. } => E::TooLong,
        ReferenceError::Digest(D::InvalidLength { .. }) => E::DigestLength,
        ReferenceError::Digest(D::Unsupported { .. }) => E::DigestUnsupported,
        other => panic!("unexpected error kind {other:?}"),
    }
}

struct Case {
    input: String,
    err: Option<E>,
    repository: &'static str,
    domain: &'static str,
    tag: &'static str,
    digest: String,
}

fn ok(input: &str, repository: &'static str, domain: &'static str, tag: &'static str) -> Case {
    Case {
        input: input.into(),
        err: None,
        repository,
        domain,
        tag,
        digest: String::new(),
    }
}

fn okd(
    input: String,
    repository: &'static str,
    domain: &'static str,
    tag: &'static str,
    digest: String,
) -> Case {
    Case {
        input,
        err: None,
        repository,
        domain,
        tag,
        digest,
    }
}

fn bad(input: impl Into<String>, err: E) -> Case {
    Case {
        input: input.into(),
        err: Some(err),
        repository: "",
        domain: "",
        tag: "",
        digest: String::new(),
    }
}

#[test]
fn reference_parse_table() {
    let sha = format!("sha256:{F64}");
    let sha512 = format!("sha512:{F64}{F64}");
    let long_ok_input = format!("{}a:tag-puts-this-over-max", "a/".repeat(127));
    let long_ok_repo: &'static str = Box::leak(format!("{}a", "a/".repeat(127)).into_boxed_str());
    let cases = vec![
        ok("test_com", "test_com", "", ""),
        ok("test.com:tag", "test.com", "", "tag"),
        ok("test.com:5000", "test.com", "", "5000"),
        ok("test.com/repo:tag", "test.com/repo", "test.com", "tag"),
        ok("test:5000/repo", "test:5000/repo", "test:5000", ""),
        ok("test:5000/repo:tag", "test:5000/repo", "test:5000", "tag"),
        okd(
            format!("test:5000/repo@{sha}"),
            "test:5000/repo",
            "test:5000",
            "",
            sha.clone(),
        ),
        okd(
            format!("test:5000/repo:tag@{sha}"),
            "test:5000/repo",
            "test:5000",
            "tag",
            sha.clone(),
        ),
        bad("", E::NameEmpty),
        bad(":justtag", E::InvalidFormat),
        bad(format!("@{sha}"), E::InvalidFormat),
        bad(
            "repo@sha256:ffffffffffffffffffffffffffffffffff",
            E::DigestLength,
        ),
        bad(
            format!("validname@invaliddigest:{F64}"),
            E::DigestUnsupported,
        ),
        bad("Uppercase:tag", E::Uppercase),
        bad("test:5000/Uppercase/lowercase:tag", E::Uppercase),
        ok("lowercase:Uppercase", "lowercase", "", "Uppercase"),
        bad(format!("{}a:tag", "a/".repeat(128)), E::TooLong),
        okd(
            long_ok_input,
            long_ok_repo,
            "a",
            "tag-puts-this-over-max",
            String::new(),
        ),
        bad("aa/asdf$$^/aa", E::InvalidFormat),
        ok(
            "sub-dom1.foo.com/bar/baz/quux",
            "sub-dom1.foo.com/bar/baz/quux",
            "sub-dom1.foo.com",
            "",
        ),
        ok(
            "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
            "sub-dom1.foo.com/bar/baz/quux",
            "sub-dom1.foo.com",
            "some-long-tag",
        ),
        ok(
            "b.gcr.io/test.example.com/my-app:test.example.com",
            "b.gcr.io/test.example.com/my-app",
            "b.gcr.io",
            "test.example.com",
        ),
        ok(
            "xn--n3h.com/myimage:xn--n3h.com",
            "xn--n3h.com/myimage",
            "xn--n3h.com",
            "xn--n3h.com",
        ),
        okd(
            format!("xn--7o8h.com/myimage:xn--7o8h.com@{sha512}"),
            "xn--7o8h.com/myimage",
            "xn--7o8h.com",
            "xn--7o8h.com",
            sha512.clone(),
        ),
        ok("foo_bar.com:8080", "foo_bar.com", "", "8080"),
        ok("foo/foo_bar.com:8080", "foo/foo_bar.com", "foo", "8080"),
        // IPv6 registries (github.com/distribution/reference).
        bad("[2001:db8::1]", E::InvalidFormat),
        bad("[2001:db8::1]:5000", E::InvalidFormat),
        bad("[2001:db8::1]:tag", E::InvalidFormat),
        ok(
            "[2001:db8::1]/repo",
            "[2001:db8::1]/repo",
            "[2001:db8::1]",
            "",
        ),
        ok(
            "[2001:db8:1:2:3:4:5:6]/repo:tag",
            "[2001:db8:1:2:3:4:5:6]/repo",
            "[2001:db8:1:2:3:4:5:6]",
            "tag",
        ),
        ok(
            "[2001:db8::1]:5000/repo",
            "[2001:db8::1]:5000/repo",
            "[2001:db8::1]:5000",
            "",
        ),
        ok(
            "[2001:db8::1]:5000/repo:tag",
            "[2001:db8::1]:5000/repo",
            "[2001:db8::1]:5000",
            "tag",
        ),
        okd(
            format!("[2001:db8::1]:5000/repo@{sha}"),
            "[2001:db8::1]:5000/repo",
            "[2001:db8::1]:5000",
            "",
            sha.clone(),
        ),
        okd(
            format!("[2001:db8::1]:5000/repo:tag@{sha}"),
            "[2001:db8::1]:5000/repo",
            "[2001:db8::1]:5000",
            "tag",
            sha.clone(),
        ),
        ok(
            "[2001:db8::]:5000/repo",
            "[2001:db8::]:5000/repo",
            "[2001:db8::]:5000",
            "",
        ),
        ok("[::1]:5000/repo", "[::1]:5000/repo", "[::1]:5000", ""),
        bad("[fe80::1%eth0]:5000/repo", E::InvalidFormat),
        bad("[fe80::1%@invalidzone]:5000/repo", E::InvalidFormat),
    ];
    for c in cases {
        let got = parse(&c.input);
        match (c.err, got) {
            (Some(want), Err(e)) => assert_eq!(kind(&e), want, "{:?}", c.input),
            (Some(want), Ok(r)) => panic!("{:?}: expected {want:?}, got {r}", c.input),
            (None, Err(e)) => panic!("{:?}: unexpected error {e}", c.input),
            (None, Ok(r)) => {
                assert_eq!(r.to_string(), c.input);
                assert_eq!(r.name(), c.repository, "{:?}", c.input);
                assert_eq!(r.domain(), c.domain, "{:?}", c.input);
                assert_eq!(r.tag().unwrap_or(""), c.tag, "{:?}", c.input);
                assert_eq!(
                    r.digest().map(Digest::to_string).unwrap_or_default(),
                    c.digest,
                    "{:?}",
                    c.input
                );
            }
        }
    }
}

#[test]
fn with_name_failures() {
    let sha = format!("sha256:{F64}");
    for input in [
        String::new(),
        ":justtag".into(),
        format!("@{sha}"),
        format!("validname@invaliddigest:{F64}"),
        format!("{}a:tag", "a/".repeat(128)),
        "aa/asdf$$^/aa".into(),
    ] {
        assert!(Named::with_name(&input).is_err(), "{input:?}");
    }
}

#[test]
fn with_name_splits_hostname() {
    for (input, domain, path) in [
        ("test.com/foo", "test.com", "foo"),
        ("test_com/foo", "", "test_com/foo"),
        ("test:8080/foo", "test:8080", "foo"),
        ("test.com:8080/foo", "test.com:8080", "foo"),
        ("test-com:8080/foo", "test-com:8080", "foo"),
        ("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo"),
    ] {
        let n = Named::with_name(input).unwrap();
        assert_eq!((n.domain(), n.path()), (domain, path), "{input}");
    }
}

#[test]
fn with_tag_and_with_digest() {
    let dg = Digest::parse(&format!("sha256:{F64}")).unwrap();
    for (name, digest, tag, combined) in [
        ("test.com/foo", None, "tag", "test.com/foo:tag".to_owned()),
        ("foo", None, "tag2", "foo:tag2".to_owned()),
        (
            "test.com:8000/foo",
            None,
            "tag4",
            "test.com:8000/foo:tag4".to_owned(),
        ),
        (
            "test.com:8000/foo",
            None,
            "TAG5",
            "test.com:8000/foo:TAG5".to_owned(),
        ),
        (
            "test.com:8000/foo",
            Some(dg.clone()),
            "TAG5",
            format!("test.com:8000/foo:TAG5@{dg}"),
        ),
    ] {
        let mut n = Named::with_name(name).unwrap();
        if let Some(d) = digest {
            n = n.with_digest(d);
        }
        assert_eq!(n.with_tag(tag).unwrap().to_string(), combined);
    }
    for (name, tag, combined) in [
        ("test.com/foo", None, format!("test.com/foo@{dg}")),
        ("foo", None, format!("foo@{dg}")),
        ("test.com:8000/foo", None, format!("test.com:8000/foo@{dg}")),
        (
            "test.com:8000/foo",
            Some("latest"),
            format!("test.com:8000/foo:latest@{dg}"),
        ),
    ] {
        let mut n = Named::with_name(name).unwrap();
        if let Some(t) = tag {
            n = n.with_tag(t).unwrap();
        }
        assert_eq!(n.with_digest(dg.clone()).to_string(), combined);
    }
}

#[test]
fn parse_named_requires_canonical() {
    for (input, result) in [
        ("test.com/foo", Some(("test.com", "foo"))),
        ("test:8080/foo", Some(("test:8080", "foo"))),
        ("test_com/foo", None),
        ("test.com", None),
        ("foo", None),
        ("library/foo", None),
        ("docker.io/library/foo", Some(("docker.io", "library/foo"))),
        ("docker.io/foo", None),
    ] {
        match (parse_named(input), result) {
            (Ok(n), Some((d, p))) => assert_eq!((n.domain(), n.path()), (d, p), "{input}"),
            (Err(ReferenceError::NameNotCanonical { .. }), None) => {}
            (other, _) => panic!("{input}: unexpected {other:?}"),
        }
    }
}

#[test]
fn validate_reference_names() {
    for name in [
        "docker/docker",
        "library/debian",
        "debian",
        "docker.io/docker/docker",
        "docker.io/library/debian",
        "docker.io/debian",
        "index.docker.io/docker/docker",
        "index.docker.io/library/debian",
        "index.docker.io/debian",
        "127.0.0.1:5000/docker/docker",
        "127.0.0.1:5000/library/debian",
        "127.0.0.1:5000/debian",
        "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
        "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
        // validate remote names
        "docker-rules/docker",
        "docker---rules/docker",
        "doc/docker",
        "d/docker",
        "jess/t",
        "dock__er/docker",
    ] {
        assert!(parse_normalized_named(name).is_ok(), "{name}");
    }
    for name in [
        "https://github.com/docker/docker",
        "docker/Docker",
        "-docker",
        "-docker/docker",
        "-docker.io/docker/docker",
        "docker///docker",
        "docker.io/docker/Docker",
        "docker.io/docker///docker",
        "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
        "docker-/docker",
        "-docker-/docker",
        "____/____",
        "_docker/_docker",
        "dock..er/docker",
        "dock_.er/docker",
        "dock-.er/docker",
        "docker/",
        "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255/docker",
    ] {
        assert!(parse_normalized_named(name).is_err(), "{name}");
    }
}

#[test]
fn docker_error_messages() {
    let msg = |s: &str| parse_normalized_named(s).unwrap_err().to_string();
    assert_eq!(
        msg("Ubuntu"),
        "invalid reference format: repository name must be lowercase"
    );
    assert_eq!(
        msg("docker.io/docker/Docker"),
        "invalid reference format: repository name must be lowercase"
    );
    assert_eq!(msg("ubuntu:bad~tag"), "invalid reference format");
    assert_eq!(msg("-docker"), "invalid reference format");
    let id = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a";
    assert_eq!(
        msg(id),
        format!("invalid repository name ({id}), cannot specify 64-byte hexadecimal strings")
    );
    assert_eq!(
        msg(&format!("{}:tag", "a".repeat(240))),
        "repository name must not be more than 255 characters"
    );
    assert_eq!(
        msg("repo@sha256:ffffffffffffffffffffffffffffffffff"),
        "invalid checksum digest length"
    );
    assert_eq!(
        parse("").unwrap_err().to_string(),
        "repository name must have at least one component"
    );
    assert_eq!(
        parse("Uppercase:tag").unwrap_err().to_string(),
        "repository name must be lowercase"
    );
}

#[test]
fn parse_repository_info() {
    // (remote name, familiar name, full name, ambiguous name, domain)
    let cases = [
        (
            "fooo/bar",
            "fooo/bar",
            "docker.io/fooo/bar",
            "index.docker.io/fooo/bar",
            "docker.io",
        ),
        (
            "library/ubuntu",
            "ubuntu",
            "docker.io/library/ubuntu",
            "library/ubuntu",
            "docker.io",
        ),
        (
            "nonlibrary/ubuntu",
            "nonlibrary/ubuntu",
            "docker.io/nonlibrary/ubuntu",
            "",
            "docker.io",
        ),
        (
            "other/library",
            "other/library",
            "docker.io/other/library",
            "",
            "docker.io",
        ),
        (
            "private/moonbase",
            "127.0.0.1:8000/private/moonbase",
            "127.0.0.1:8000/private/moonbase",
            "",
            "127.0.0.1:8000",
        ),
        (
            "privatebase",
            "127.0.0.1:8000/privatebase",
            "127.0.0.1:8000/privatebase",
            "",
            "127.0.0.1:8000",
        ),
        (
            "private/moonbase",
            "example.com/private/moonbase",
            "example.com/private/moonbase",
            "",
            "example.com",
        ),
        (
            "privatebase",
            "example.com/privatebase",
            "example.com/privatebase",
            "",
            "example.com",
        ),
        (
            "private/moonbase",
            "example.com:8000/private/moonbase",
            "example.com:8000/private/moonbase",
            "",
            "example.com:8000",
        ),
        (
            "privatebasee",
            "example.com:8000/privatebasee",
            "example.com:8000/privatebasee",
            "",
            "example.com:8000",
        ),
        (
            "library/ubuntu-12.04-base",
            "ubuntu-12.04-base",
            "docker.io/library/ubuntu-12.04-base",
            "index.docker.io/library/ubuntu-12.04-base",
            "docker.io",
        ),
        (
            "library/foo",
            "foo",
            "docker.io/library/foo",
            "docker.io/foo",
            "docker.io",
        ),
        (
            "library/foo/bar",
            "library/foo/bar",
            "docker.io/library/foo/bar",
            "",
            "docker.io",
        ),
        (
            "store/foo/bar",
            "store/foo/bar",
            "docker.io/store/foo/bar",
            "",
            "docker.io",
        ),
    ];
    for (remote, familiar, full, ambiguous, domain) in cases {
        let mut inputs = vec![familiar, full];
        if !ambiguous.is_empty() {
            inputs.push(ambiguous);
        }
        for input in inputs {
            let n = parse_normalized_named(input).unwrap();
            assert_eq!(n.familiar_name(), familiar, "{input}");
            assert_eq!(n.to_string(), full, "{input}");
            assert_eq!(n.domain(), domain, "{input}");
            assert_eq!(n.path(), remote, "{input}");
        }
    }
}

#[test]
fn reference_with_tag_and_digest() {
    let short =
        "busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa";
    let n = parse_normalized_named(short).unwrap();
    assert_eq!(n.to_string(), format!("docker.io/library/{short}"));
    assert_eq!(n.tag(), Some("latest"));
    assert!(n.digest().is_some());
    assert_eq!(n.familiar_string(), short);
}

#[test]
fn invalid_reference_components() {
    assert!(parse_normalized_named("-foo").is_err());
    let n = parse_normalized_named("busybox").unwrap();
    assert!(matches!(
        n.with_tag("-foo"),
        Err(ReferenceError::TagInvalidFormat { .. })
    ));
    assert!(Digest::parse("foo").is_err());
}

#[test]
fn parse_any_reference_table() {
    let h = "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c";
    let cases: Vec<(String, String, bool)> = vec![
        ("redis".into(), "docker.io/library/redis".into(), false),
        (
            "redis:latest".into(),
            "docker.io/library/redis:latest".into(),
            false,
        ),
        (
            "docker.io/library/redis:latest".into(),
            "docker.io/library/redis:latest".into(),
            false,
        ),
        (
            format!("redis@sha256:{h}"),
            format!("docker.io/library/redis@sha256:{h}"),
            false,
        ),
        (
            format!("docker.io/library/redis@sha256:{h}"),
            format!("docker.io/library/redis@sha256:{h}"),
            false,
        ),
        (
            "dmcgowan/myapp".into(),
            "docker.io/dmcgowan/myapp".into(),
            false,
        ),
        (
            "dmcgowan/myapp:latest".into(),
            "docker.io/dmcgowan/myapp:latest".into(),
            false,
        ),
        (
            "docker.io/mcgowan/myapp:latest".into(),
            "docker.io/mcgowan/myapp:latest".into(),
            false,
        ),
        (
            format!("dmcgowan/myapp@sha256:{h}"),
            format!("docker.io/dmcgowan/myapp@sha256:{h}"),
            false,
        ),
        (
            format!("docker.io/dmcgowan/myapp@sha256:{h}"),
            format!("docker.io/dmcgowan/myapp@sha256:{h}"),
            false,
        ),
        (h.into(), format!("sha256:{h}"), true),
        (format!("sha256:{h}"), format!("sha256:{h}"), true),
        (
            h[..63].into(),
            format!("docker.io/library/{}", &h[..63]),
            false,
        ),
    ];
    for (input, equivalent, is_digest) in cases {
        let r = parse_any_reference(&input).unwrap();
        assert_eq!(r.to_string(), equivalent, "{input}");
        match r {
            Reference::Digest(_) => assert!(is_digest, "{input}"),
            Reference::Named(n) => {
                assert!(!is_digest, "{input}");
                assert_eq!(n, parse(&equivalent).unwrap(), "{input}");
            }
        }
    }
}

#[test]
fn normalized_split_hostname() {
    for (input, domain, path) in [
        ("test.com/foo", "test.com", "foo"),
        ("test_com/foo", "docker.io", "test_com/foo"),
        ("docker/migrator", "docker.io", "docker/migrator"),
        ("test.com:8080/foo", "test.com:8080", "foo"),
        ("test-com:8080/foo", "test-com:8080", "foo"),
        ("foo", "docker.io", "library/foo"),
        ("xn--n3h.com/foo", "xn--n3h.com", "foo"),
        ("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo"),
        ("docker.io/foo", "docker.io", "library/foo"),
        ("docker.io/library/foo", "docker.io", "library/foo"),
        ("docker.io/library/foo/bar", "docker.io", "library/foo/bar"),
        ("localhost/foo", "localhost", "foo"),
        ("localhost:5000/foo:1", "localhost:5000", "foo"),
        ("index.docker.io/foo", "docker.io", "library/foo"),
    ] {
        let n = parse_normalized_named(input).unwrap();
        assert_eq!((n.domain(), n.path()), (domain, path), "{input}");
    }
}

#[test]
fn parse_docker_ref_table() {
    let d = "sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582";
    for (input, expected) in [
        (
            "busybox".to_owned(),
            "docker.io/library/busybox:latest".to_owned(),
        ),
        (
            "busybox:latest".into(),
            "docker.io/library/busybox:latest".into(),
        ),
        (
            format!("busybox@{d}"),
            format!("docker.io/library/busybox@{d}"),
        ),
        (
            "library/busybox".into(),
            "docker.io/library/busybox:latest".into(),
        ),
        (
            "docker.io/busybox".into(),
            "docker.io/library/busybox:latest".into(),
        ),
        (
            "docker.io/library/busybox".into(),
            "docker.io/library/busybox:latest".into(),
        ),
        (
            "docker.io/busybox:latest".into(),
            "docker.io/library/busybox:latest".into(),
        ),
        (
            "library/busybox:latest".into(),
            "docker.io/library/busybox:latest".into(),
        ),
        (
            "docker.io/library/busybox:latest".into(),
            "docker.io/library/busybox:latest".into(),
        ),
        (
            "gcr.io/library/busybox".into(),
            "gcr.io/library/busybox:latest".into(),
        ),
        (
            format!("gcr.io/library/busybox:latest@{d}"),
            format!("gcr.io/library/busybox@{d}"),
        ),
    ] {
        let n = parse_docker_ref(&input).unwrap();
        assert_eq!(n.to_string(), expected, "{input}");
        assert!(parse(&expected).is_ok());
    }
}

#[test]
fn domain_grammar_table() {
    for (host, ok) in [
        ("test.com", true),
        ("test.com:10304", true),
        ("test.com:http", false),
        ("localhost", true),
        ("localhost:8080", true),
        ("a", true),
        ("a.b", true),
        ("ab.cd.com", true),
        ("a-b.com", true),
        ("-ab.com", false),
        ("ab-.com", false),
        ("ab.c-om", true),
        ("ab.-com", false),
        ("ab.com-", false),
        ("0101.com", true),
        ("001a.com", true),
        ("b.gbc.io:443", true),
        ("b.gbc.io", true),
        ("xn--n3h.com", true),
        ("Asdf.com", true),
        ("[::1]", true),
        ("[::1]:8080", true),
        ("[2001:DB8::1]", true),
        ("[::1", false),
        ("::1", false),
    ] {
        let got = Named::with_name(&format!("{host}/x")).map(|n| n.domain().to_owned());
        assert_eq!(got.as_deref() == Ok(host), ok, "{host}: {got:?}");
    }
}

#[test]
fn full_name_grammar_table() {
    let long = format!("{}a", "a/".repeat(128));
    let cases: Vec<(&str, Option<(&str, &str)>)> = vec![
        ("", None),
        ("short", Some(("", "short"))),
        ("simple/name", Some(("simple", "name"))),
        ("library/ubuntu", Some(("library", "ubuntu"))),
        ("docker/stevvooe/app", Some(("docker", "stevvooe/app"))),
        (
            "aa/aa/aa/aa/aa/aa/aa/aa/aa/bb/bb/bb/bb/bb/bb",
            Some(("aa", "aa/aa/aa/aa/aa/aa/aa/aa/bb/bb/bb/bb/bb/bb")),
        ),
        ("aa/aa/bb/bb/bb", Some(("aa", "aa/bb/bb/bb"))),
        ("a/a/a/a", Some(("a", "a/a/a"))),
        ("a/a/a/a/", None),
        ("a//a/a", None),
        ("a", Some(("", "a"))),
        ("a/aa", Some(("a", "aa"))),
        ("a/aa/a", Some(("a", "aa/a"))),
        ("foo.com", Some(("", "foo.com"))),
        ("foo.com/", None),
        ("foo.com:8080/bar", Some(("foo.com:8080", "bar"))),
        ("foo.com:http/bar", None),
        ("foo.com/bar", Some(("foo.com", "bar"))),
        ("foo.com/bar/baz", Some(("foo.com", "bar/baz"))),
        ("localhost:8080/bar", Some(("localhost:8080", "bar"))),
        (
            "sub-dom1.foo.com/bar/baz/quux",
            Some(("sub-dom1.foo.com", "bar/baz/quux")),
        ),
        ("blog.foo.com/bar/baz", Some(("blog.foo.com", "bar/baz"))),
        ("a^a", None),
        ("aa/asdf$$^/aa", None),
        ("asdf$$^/aa", None),
        ("aa-a/a", Some(("aa-a", "a"))),
        ("a-/a/a/a", None),
        ("foo.com/a-/a/a", None),
        ("-foo/bar", None),
        ("foo/bar-", None),
        ("foo-/bar", None),
        ("foo/-bar", None),
        ("_foo/bar", None),
        ("foo_bar", Some(("", "foo_bar"))),
        ("foo_bar.com", Some(("", "foo_bar.com"))),
        ("foo_bar.com:8080", None),
        ("foo_bar.com:8080/app", None),
        ("foo.com/foo_bar", Some(("foo.com", "foo_bar"))),
        ("____/____", None),
        ("_docker/_docker", None),
        ("docker_/docker_", None),
        (
            "b.gcr.io/test.example.com/my-app",
            Some(("b.gcr.io", "test.example.com/my-app")),
        ),
        ("xn--n3h.com/myimage", Some(("xn--n3h.com", "myimage"))),
        ("xn--7o8h.com/myimage", Some(("xn--7o8h.com", "myimage"))),
        (
            "example.com/xn--7o8h.com/myimage",
            Some(("example.com", "xn--7o8h.com/myimage")),
        ),
        (
            "example.com/some_separator__underscore/myimage",
            Some(("example.com", "some_separator__underscore/myimage")),
        ),
        ("example.com/__underscore/myimage", None),
        ("example.com/..dots/myimage", None),
        ("example.com/.dots/myimage", None),
        ("example.com/nodouble..dots/myimage", None),
        ("docker./docker", None),
        (".docker/docker", None),
        ("docker-/docker", None),
        ("-docker/docker", None),
        ("do..cker/docker", None),
        ("do__cker:8080/docker", None),
        ("do__cker/docker", Some(("", "do__cker/docker"))),
        (
            "registry.io/foo/project--id.module--name.ver---sion--name",
            Some((
                "registry.io",
                "foo/project--id.module--name.ver---sion--name",
            )),
        ),
        ("Asdf.com/foo/bar", Some(("Asdf.com", "foo/bar"))),
        ("Foo/FarB", None),
    ];
    for (input, want) in cases {
        let got = Named::with_name(input);
        match (got, want) {
            (Ok(n), Some((d, p))) => assert_eq!((n.domain(), n.path()), (d, p), "{input}"),
            (Err(_), None) => {}
            (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
        }
    }
    // Matches the grammar, but is over the length limit.
    assert!(matches!(
        Named::with_name(&long),
        Err(ReferenceError::NameTooLong { length: 257 })
    ));
}

/// (input, expected (name, tag, digest) or no match)
type GrammarCase<'a> = (String, Option<(&'a str, &'a str, &'a str)>);

#[test]
fn reference_grammar_table() {
    let d = "sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912";
    let cases: Vec<GrammarCase> = vec![
        (
            "registry.com:8080/myapp:tag".into(),
            Some(("registry.com:8080/myapp", "tag", "")),
        ),
        (
            format!("registry.com:8080/myapp@{d}"),
            Some(("registry.com:8080/myapp", "", d)),
        ),
        (
            format!("registry.com:8080/myapp:tag2@{d}"),
            Some(("registry.com:8080/myapp", "tag2", d)),
        ),
        ("registry.com:8080/myapp@sha256:badbadbadbad".into(), None),
        ("registry.com:8080/myapp:invalid~tag".into(), None),
        ("bad_hostname.com:8080/myapp:tag".into(), None),
        (
            format!("localhost:8080@{d}"),
            Some(("localhost", "8080", d)),
        ),
        (
            format!("localhost:8080/name@{d}"),
            Some(("localhost:8080/name", "", d)),
        ),
        (format!("localhost:http/name@{d}"), None),
        (format!("localhost@{d}"), Some(("localhost", "", d))),
        ("registry.com:8080/myapp@bad".into(), None),
        ("registry.com:8080/myapp@2bad".into(), None),
    ];
    for (input, want) in cases {
        match (parse(&input), want) {
            (Ok(n), Some((name, tag, digest))) => {
                assert_eq!(n.name(), name, "{input}");
                assert_eq!(n.tag().unwrap_or(""), tag, "{input}");
                assert_eq!(
                    n.digest().map(|d| d.to_string()).unwrap_or_default(),
                    digest,
                    "{input}"
                );
            }
            (Err(_), None) => {}
            (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn tag_name_only_and_trim() {
    let n = parse_normalized_named("busybox").unwrap();
    assert!(n.is_name_only());
    let t = n.clone().tag_name_only();
    assert_eq!(t.to_string(), "docker.io/library/busybox:latest");
    assert_eq!(t.familiar_string(), "busybox:latest");
    assert_eq!(t.trimmed(), n);
    let tagged = parse_normalized_named("busybox:1").unwrap();
    assert_eq!(tagged.clone().tag_name_only(), tagged);
}
